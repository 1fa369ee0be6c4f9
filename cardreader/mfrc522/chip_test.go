package mfrc522

import (
	"testing"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/spi"
)

func TestCRCA(t *testing.T) {
	// ISO/IEC 14443-3 Annex B examples, HLTA, and the catalogue check value.
	for _, tt := range []struct {
		in   string
		want uint16
	}{
		{"\x00\x00", 0x1EA0},
		{"\x12\x34", 0xCF26},
		{"\x50\x00", 0xCD57},
		{"123456789", 0xBF05},
	} {
		if got := crcA([]byte(tt.in)); got != tt.want {
			t.Errorf("crcA(% X) = %04X, want %04X", tt.in, got, tt.want)
		}
	}
}

// fuzzConn is a chip that answers every read with the next fuzz byte.
type fuzzConn struct {
	answers []byte
	i       int
	txs     int
}

func (c *fuzzConn) String() string      { return "fuzz" }
func (c *fuzzConn) Duplex() conn.Duplex { return conn.Full }
func (c *fuzzConn) Tx(w, r []byte) error {
	c.txs++
	for i := range r {
		if len(c.answers) > 0 {
			r[i] = c.answers[c.i%len(c.answers)]
			c.i++
		}
	}
	return nil
}
func (c *fuzzConn) TxPackets([]spi.Packet) error { return nil }

// FuzzPoll: whatever the chip answers, a poll ends, does not panic, and
// returns a UID of 4, 7 or 10 bytes or none.
func FuzzPoll(f *testing.F) {
	f.Add([]byte{0x45})
	f.Add([]byte{0x74, 0x00, 0x02, 0x04, 0x00, 0x10})
	f.Add([]byte{0x74, 0x00, 0x05, 0x9E, 0x5B, 0x2C, 0x41, 0xA8, 0x10})
	f.Add([]byte{0xFF})
	f.Add([]byte{0x00})
	f.Fuzz(func(t *testing.T, answers []byte) {
		c := &fuzzConn{answers: answers}
		d := &chip{c: c, irqPolls: 50, sleep: func(time.Duration) {}}
		for range 4 {
			uid, err := d.poll()
			if err != nil {
				return
			}
			switch len(uid) {
			case 0, 4, 7, 10:
			default:
				t.Fatalf("UID of %d bytes", len(uid))
			}
		}
		if c.txs > 4*(4+3*2+1)*(7+50+5) {
			t.Fatalf("%d transfers for 4 polls", c.txs)
		}
	})
}
