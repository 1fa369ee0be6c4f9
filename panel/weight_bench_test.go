package panel

import "testing"

// BenchmarkPageWeight reports the page's weight as the agent serves it:
// every file under panel/web, loaded by mustLoadPage as the server does at
// start (so ns/op is that start-up cost, reading and gzipping it all),
// plain ("bytes") and as sent to a browser that takes gzip ("gzip-bytes":
// the gzip body, or the plain one when gzip does not make it smaller).
// "loaded-bytes" is the page as one browser loads it at most (the three
// largest catalogues, not all four), the figure TestPageWeight holds to
// 100,000 bytes. `make bench` prints all three, so a change that fattens
// the page shows beside its budget.
func BenchmarkPageWeight(b *testing.B) {
	var plain, gz int
	for i := 0; i < b.N; i++ {
		plain, gz = pageWeight(mustLoadPage())
	}
	loaded, _ := loadedWeight(b)
	b.ReportMetric(float64(loaded), "loaded-bytes")
	b.ReportMetric(float64(plain), "bytes")
	b.ReportMetric(float64(gz), "gzip-bytes")
}

// pageWeight sums a page's served sizes: plain, and with gzip accepted.
func pageWeight(page assets) (plain, gz int) {
	for _, a := range page {
		plain += len(a.body)
		if a.gz != nil {
			gz += len(a.gz)
		} else {
			gz += len(a.body)
		}
	}
	return plain, gz
}
