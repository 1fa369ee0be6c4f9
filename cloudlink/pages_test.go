package cloudlink

import "testing"

func TestPageURL(t *testing.T) {
	tests := []struct{ hub, path, want string }{
		{"https://hub.example:8443", "/q/abc", "https://hub.example:8443/q/abc"},
		{"wss://hub.example/tessera/", "/q/abc", "https://hub.example/tessera/q/abc"},
		{"http://127.0.0.1:8080", "claim", "http://127.0.0.1:8080/claim"},
	}
	for _, tc := range tests {
		l, err := New(Config{HubURL: tc.hub, AgentID: "a", Version: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if got := l.PageURL(tc.path); got != tc.want {
			t.Errorf("%s + %s = %s, want %s", tc.hub, tc.path, got, tc.want)
		}
	}
}
