package schematest_test

import (
	"fmt"

	"github.com/tessera-print/tessera/protocol/schema/schematest"
)

// A heartbeat's answer checked against the catalogue: a time that is not
// RFC 3339 is refused, and so, in a closed catalogue, is a field the
// catalogue does not describe.
func ExampleCatalogue_Validate() {
	cat, err := schematest.Load()
	if err != nil {
		panic(err)
	}
	for _, doc := range []string{
		`{"server_time": "2026-12-07T09:30:00Z"}`,
		`{"server_time": "yesterday"}`,
		`{"server_time": "2026-12-07T09:30:00Z", "mood": "sunny"}`,
	} {
		fmt.Println(cat.Validate(schematest.ResponseSchema("Heartbeat"), []byte(doc)) == nil)
	}
	// Output:
	// true
	// false
	// false
}
