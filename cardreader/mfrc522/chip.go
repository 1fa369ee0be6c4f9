package mfrc522

import (
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3/spi"
)

// Registers (MFRC522 datasheet, table 20).
const (
	regCommand    = 0x01
	regComIrq     = 0x04
	regError      = 0x06
	regFIFOData   = 0x09
	regFIFOLevel  = 0x0A
	regControl    = 0x0C
	regBitFraming = 0x0D
	regMode       = 0x11
	regTxControl  = 0x14
	regTxASK      = 0x15
	regTMode      = 0x2A
	regTPrescaler = 0x2B
	regTReloadH   = 0x2C
	regTReloadL   = 0x2D
	regVersion    = 0x37
)

// Commands (datasheet 10.3).
const (
	cmdIdle       = 0x00
	cmdTransceive = 0x0C
	cmdSoftReset  = 0x0F
)

// Bits.
const (
	powerDown  = 0x10 // CommandReg
	irqRx      = 0x20 // ComIrqReg
	irqIdle    = 0x10
	irqTimer   = 0x01
	clearIrqs  = 0x7F // ComIrqReg: Set1 = 0 clears the bits written as 1
	flushFIFO  = 0x80 // FIFOLevelReg
	startSend  = 0x80 // BitFramingReg
	errCollBit = 0x08 // ErrorReg: CollErr
	errFatal   = 0x13 // ErrorReg: BufferOvfl, ParityErr, ProtocolErr
	fifoSize   = 64
)

// ISO/IEC 14443-3 type A commands.
const (
	cmdREQA  = 0x26
	selCL1   = 0x93
	selCL2   = 0x95
	selCL3   = 0x97
	nvbAll   = 0x20 // anticollision: only SEL and NVB are sent
	nvbFull  = 0x70 // select: all 40 UID bits are sent
	cascadeT = 0x88 // the cascade tag: the UID goes on at the next level
	sakMore  = 0x04 // SAK: UID not complete
)

var (
	// errNoCard: the timer ran out without an answer (no card in the
	// field, or a card that is halted).
	errNoCard = errors.New("no answer from a card")
	// errCollision: several cards answered at once.
	errCollision = errors.New("several cards in the field")
)

// chipError is a failure of the reader itself (SPI, or a chip that does
// not behave like one): the device is gone.
type chipError struct{ err error }

func (e *chipError) Error() string { return "MFRC522: " + e.err.Error() }
func (e *chipError) Unwrap() error { return e.err }

func chipErrorf(format string, args ...any) error {
	return &chipError{fmt.Errorf(format, args...)}
}

// protocolError is a garbled answer from a card: the poll is abandoned.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return "card answer: " + e.msg }

// chip talks to an MFRC522 over SPI: one transaction per register access,
// as the datasheet's SPI section (8.1.2) describes: an address byte
// (bit 7 = read, register in bits 6..1) and the data.
type chip struct {
	c spi.Conn
	// irqPolls bounds the reads of ComIrqReg waiting for an exchange to
	// end; irqWait is the pause between two. The chip's own timer (25 ms)
	// ends an exchange first unless the chip is not answering.
	irqPolls int
	irqWait  time.Duration
	sleep    func(time.Duration)
}

func (d *chip) read(reg byte) (byte, error) {
	w := []byte{0x80 | reg<<1, 0}
	r := make([]byte, 2)
	if err := d.c.Tx(w, r); err != nil {
		return 0, &chipError{fmt.Errorf("read register %#02x: %w", reg, err)}
	}
	return r[1], nil
}

func (d *chip) write(reg byte, vals ...byte) error {
	w := append([]byte{reg << 1}, vals...)
	if err := d.c.Tx(w, make([]byte, len(w))); err != nil {
		return &chipError{fmt.Errorf("write register %#02x: %w", reg, err)}
	}
	return nil
}

// readFIFO reads n bytes from the FIFO in one transaction: the address is
// repeated for each byte and a 0 ends the transaction (datasheet 8.1.2.1).
func (d *chip) readFIFO(n int) ([]byte, error) {
	w := make([]byte, n+1)
	for i := range n {
		w[i] = 0x80 | regFIFOData<<1
	}
	r := make([]byte, n+1)
	if err := d.c.Tx(w, r); err != nil {
		return nil, &chipError{fmt.Errorf("read FIFO: %w", err)}
	}
	return r[1:], nil
}

// init resets the chip and sets it up for ISO 14443 A, and returns its
// version (VersionReg: 0x91 v1.0, 0x92 v2.0; clones answer other values).
func (d *chip) init() (byte, error) {
	if err := d.write(regCommand, cmdSoftReset); err != nil {
		return 0, err
	}
	// The oscillator restarts after a soft reset; PowerDown clears when
	// the chip is ready (datasheet 10.3.1.10).
	ready := false
	for range d.irqPolls {
		v, err := d.read(regCommand)
		if err != nil {
			return 0, err
		}
		if v&powerDown == 0 {
			ready = true
			break
		}
		d.sleep(d.irqWait)
	}
	if !ready {
		return 0, chipErrorf("still powered down after a soft reset")
	}
	version, err := d.read(regVersion)
	if err != nil {
		return 0, err
	}
	if version == 0x00 || version == 0xFF {
		return 0, chipErrorf("no chip answering (VersionReg reads %#02x)", version)
	}
	for _, rv := range [][2]byte{
		{regTMode, 0x80},      // TAuto: the timer starts at the end of each transmission
		{regTPrescaler, 0xA9}, // 13.56 MHz / (2*169+1) = 40 kHz: 25 µs ticks
		{regTReloadH, 0x03},   // 1000 ticks: 25 ms without an answer is "no card"
		{regTReloadL, 0xE8},
		{regTxASK, 0x40}, // 100 % ASK modulation, as type A needs
		{regMode, 0x3D},  // CRC preset 6363h (ISO 14443-3 CRC_A)
	} {
		if err := d.write(rv[0], rv[1]); err != nil {
			return 0, err
		}
	}
	// Antenna on: Tx1RFEn and Tx2RFEn.
	tx, err := d.read(regTxControl)
	if err != nil {
		return 0, err
	}
	if tx&0x03 != 0x03 {
		if err := d.write(regTxControl, tx|0x03); err != nil {
			return 0, err
		}
	}
	return version, nil
}

// transceive sends data (the last byte's txBits bits only, 0 = all 8) and
// returns the card's answer and the number of valid bits in its last byte
// (0 = all 8). It returns errNoCard when the chip's timer ran out.
func (d *chip) transceive(data []byte, txBits byte) ([]byte, byte, error) {
	for _, rv := range [][]byte{
		{regCommand, cmdIdle}, // end whatever ran, a timed-out Transceive included
		{regComIrq, clearIrqs},
		{regFIFOLevel, flushFIFO},
		append([]byte{regFIFOData}, data...),
		{regBitFraming, txBits},
		{regCommand, cmdTransceive},
		{regBitFraming, startSend | txBits},
	} {
		if err := d.write(rv[0], rv[1:]...); err != nil {
			return nil, 0, err
		}
	}
	done := false
	for range d.irqPolls {
		irq, err := d.read(regComIrq)
		if err != nil {
			return nil, 0, err
		}
		if irq&(irqRx|irqIdle) != 0 {
			done = true
			break
		}
		if irq&irqTimer != 0 {
			return nil, 0, errNoCard
		}
		d.sleep(d.irqWait)
	}
	if !done {
		return nil, 0, chipErrorf("no end of exchange and no timeout: the chip is not answering")
	}
	e, err := d.read(regError)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case e == 0xFF:
		// Bit 5 of ErrorReg is reserved and reads 0: all ones is a bus
		// with nothing on it.
		return nil, 0, chipErrorf("ErrorReg reads FFh: no chip on the bus")
	case e&errFatal != 0:
		return nil, 0, &protocolError{fmt.Sprintf("ErrorReg %#02x", e)}
	case e&errCollBit != 0:
		return nil, 0, errCollision
	}
	n, err := d.read(regFIFOLevel)
	if err != nil {
		return nil, 0, err
	}
	n &= 0x7F
	if n > fifoSize {
		return nil, 0, chipErrorf("FIFO level %d is past the 64-byte FIFO", n)
	}
	var resp []byte
	if n > 0 {
		if resp, err = d.readFIFO(int(n)); err != nil {
			return nil, 0, err
		}
	}
	ctl, err := d.read(regControl)
	if err != nil {
		return nil, 0, err
	}
	return resp, ctl & 0x07, nil
}

// requestA sends REQA (7 bits) and reports whether a card answered with
// an ATQA. A garbled ATQA still means a card is there: several cards
// answering REQA at once is normal, the anticollision sorts them out.
func (d *chip) requestA() (bool, error) {
	atqa, bits, err := d.transceive([]byte{cmdREQA}, 7)
	var pe *protocolError
	switch {
	case errors.Is(err, errNoCard):
		return false, nil
	case errors.Is(err, errCollision), errors.As(err, &pe):
		return true, nil
	case err != nil:
		return false, err
	}
	return len(atqa) == 2 && bits == 0, nil
}

// selectCard runs the anticollision and select of each cascade level
// (ISO/IEC 14443-3 6.5.3) and returns the UID: 4, 7 or 10 bytes, without
// cascade tags and check bytes.
func (d *chip) selectCard() ([]byte, error) {
	var uid []byte
	for _, sel := range []byte{selCL1, selCL2, selCL3} {
		resp, bits, err := d.transceive([]byte{sel, nvbAll}, 0)
		if err != nil {
			return nil, err
		}
		if len(resp) != 5 || bits != 0 {
			return nil, &protocolError{fmt.Sprintf("anticollision answer of %d bytes", len(resp))}
		}
		if resp[0]^resp[1]^resp[2]^resp[3] != resp[4] {
			return nil, &protocolError{"UID check byte (BCC) does not match"}
		}
		frame := append([]byte{sel, nvbFull}, resp...)
		frame = appendCRC(frame)
		sak, bits, err := d.transceive(frame, 0)
		if err != nil {
			return nil, err
		}
		if len(sak) != 3 || bits != 0 || !checkCRC(sak) {
			return nil, &protocolError{"SAK garbled"}
		}
		more := sak[0]&sakMore != 0
		if resp[0] == cascadeT {
			if !more {
				return nil, &protocolError{"cascade tag without 'UID not complete'"}
			}
			uid = append(uid, resp[1:4]...)
			continue
		}
		if more {
			return nil, &protocolError{"'UID not complete' without a cascade tag"}
		}
		return append(uid, resp[:4]...), nil
	}
	return nil, &protocolError{"UID longer than three cascade levels"}
}

// halt sends HLTA: the card sleeps until it leaves the field, so it is
// read once per presentation. A card does not answer HLTA.
func (d *chip) halt() error {
	_, _, err := d.transceive(appendCRC([]byte{0x50, 0x00}), 0)
	var ce *chipError
	if errors.As(err, &ce) {
		return err
	}
	return nil
}

// poll looks for a card and returns its UID, or nil when there is none
// (or when the answer was garbled, or several cards collided: the next
// poll tries again). Only a failure of the chip is an error.
func (d *chip) poll() ([]byte, error) {
	present, err := d.requestA()
	if err != nil || !present {
		return nil, err
	}
	uid, err := d.selectCard()
	var ce *chipError
	if errors.As(err, &ce) {
		return nil, err
	}
	if err != nil {
		return nil, nil
	}
	if err := d.halt(); err != nil {
		return nil, err
	}
	return uid, nil
}

// crcA is ISO/IEC 14443-3 CRC_A: CRC-16/CCITT reflected (polynomial
// 0x8408), preset 0x6363, no final inversion, sent low byte first.
func crcA(data []byte) uint16 {
	crc := uint16(0x6363)
	for _, b := range data {
		crc ^= uint16(b)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0x8408
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

func appendCRC(b []byte) []byte {
	c := crcA(b)
	return append(b, byte(c), byte(c>>8))
}

func checkCRC(b []byte) bool {
	n := len(b)
	c := crcA(b[:n-2])
	return b[n-2] == byte(c) && b[n-1] == byte(c>>8)
}
