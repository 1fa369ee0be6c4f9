// Package evdev is the driver for USB keyboard-wedge card readers on Linux:
// readers that "type" the card number as key presses. It reads the
// reader's input device (/dev/input/event*) directly and grabs it
// exclusively (EVIOCGRAB), so the card number reaches the agent and nothing
// else: not the console, not a focused text field.
//
// A device is selected by path (a stable /dev/input/by-id/... link), by the
// name the kernel gives it, or by USB vendor:product id. The key presses
// are turned into characters with a keymap (US QWERTY, French AZERTY,
// German QWERTZ), with Shift and the keypad; a read ends at Enter (or Tab,
// or keypad Enter) or after a quiet gap, and an optional prefix and suffix
// the reader adds are stripped.
//
// The decoding (Decoder, ReadEvents) is separate from the device I/O so it
// can be tested on recorded event streams, in both layouts of struct
// input_event: 16 bytes on 32-bit ARM (32-bit timeval), 24 bytes on 64-bit
// systems. The recordings in testdata are made by internal/gen from
// xkeyboard-config's layout files and the kernel's key code table, not from
// this package's keymaps.
package evdev
