package session

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSetEnrollment: the claim code is in the view (and its JSON) until
// the agent is enrolled; the same code again is no change.
func TestSetEnrollment(t *testing.T) {
	f := newFixture(t)
	ch, stop := f.m.Subscribe()
	defer stop()
	if b, _ := json.Marshal(f.m.View()); strings.Contains(string(b), "enrollment") {
		t.Fatalf("an enrolled agent's view has an enrollment: %s", b)
	}
	f.m.SetEnrollment("K7M-42Q", "https://hub.example")
	v := f.m.View()
	if v.Enrollment == nil || *v.Enrollment != (Enrollment{Code: "K7M-42Q", Hub: "https://hub.example"}) {
		t.Fatalf("view %+v", v.Enrollment)
	}
	if b, _ := json.Marshal(v); !strings.Contains(string(b), `"enrollment":{"code":"K7M-42Q","hub":"https://hub.example"}`) {
		t.Errorf("JSON %s", b)
	}
	<-ch
	f.m.SetEnrollment("K7M-42Q", "https://hub.example")
	select {
	case <-ch:
		t.Error("the same code told again")
	default:
	}
	f.m.SetEnrollment("", "")
	if v := f.m.View(); v.Enrollment != nil {
		t.Errorf("enrolled: %+v", v.Enrollment)
	}
}
