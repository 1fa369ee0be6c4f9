package cloudlink

import "testing"

func TestPageURL(t *testing.T) {
	tests := []struct{ hub, path, base, want string }{
		{"https://hub.example:8443", "/q/abc", "https://hub.example:8443", "https://hub.example:8443/q/abc"},
		{"wss://hub.example/tessera/", "/q/abc", "https://hub.example/tessera", "https://hub.example/tessera/q/abc"},
		{"ws://127.0.0.1:8080", "claim", "http://127.0.0.1:8080", "http://127.0.0.1:8080/claim"},
		{"http://hub.lan/tessera", "/q/x", "http://hub.lan/tessera", "http://hub.lan/tessera/q/x"},
	}
	for _, tc := range tests {
		l, err := New(Config{HubURL: tc.hub, AgentID: "a", Version: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if got := l.PageURL(tc.path); got != tc.want {
			t.Errorf("%s + %s = %s, want %s", tc.hub, tc.path, got, tc.want)
		}
		if got, err := PageBase(tc.hub); got != tc.base || err != nil {
			t.Errorf("PageBase(%s) = %s %v, want %s", tc.hub, got, err, tc.base)
		}
	}
	if _, err := PageBase("ftp://x"); err == nil {
		t.Error("ftp accepted")
	}
}
