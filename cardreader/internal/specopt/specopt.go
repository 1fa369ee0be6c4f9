// Package specopt reads the options of a card reader spec, the query part
// of `serial:///dev/ttyUSB0?baud=9600`: each option at most once.
package specopt

import (
	"fmt"
	"net/url"
)

// Parse returns the options of query by name. An option given twice is an
// error rather than a silent choice of one of the values.
func Parse(query string) (map[string]string, error) {
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("options: %w", err)
	}
	opts := make(map[string]string, len(q))
	for k, vs := range q {
		if len(vs) != 1 {
			return nil, fmt.Errorf("option %s given %d times", k, len(vs))
		}
		opts[k] = vs[0]
	}
	return opts, nil
}
