// Package mfrc522 is the driver for NXP MFRC522 contactless readers on an
// SPI bus (the RC522 boards of Raspberry Pi class devices), on periph.io's
// SPI and GPIO interfaces. It reads the UID of ISO/IEC 14443 A cards
// (MIFARE and the like): 4, 7 or 10 bytes, through the anticollision
// cascade levels, without the check byte (BCC) the cascade carries.
//
// It polls with REQA every 150 ms (configurable) rather than waiting for
// the chip's IRQ line, which RC522 boards often leave unconnected or
// wired to a pin that then cannot be shared. A card that was read is put to
// sleep (HLTA), so one presentation is one read; it answers again once it
// has left the field and come back.
//
// The chip is checked at every exchange: a board that stops answering (or
// answers all ones) is reported gone and set up again once it answers.
package mfrc522
