// Package fakereader holds the fakes of the cardreader contract: Reader, a
// cardreader.Reader driven by a test, for the tests of packages that consume
// readers; and Sink, a cardreader.Sink that records deliveries, for the
// tests of reader drivers. It lives beside the interface so that every test
// on either side uses the same fakes.
package fakereader
