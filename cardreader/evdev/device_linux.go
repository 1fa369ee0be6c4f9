//go:build linux

package evdev

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctl requests of linux/input.h: _IOC(dir, 'E', nr, size) is
// dir<<30 | size<<16 | 'E'<<8 | nr, dir 2 = read, 1 = write. The encoding is
// the generic one, used by x86 and ARM alike.
const (
	eviocgid       = 2<<30 | 8<<16 | 'E'<<8 | 0x02 // struct input_id: 4 × u16
	eviocgrab      = 1<<30 | 4<<16 | 'E'<<8 | 0x90
	eviocsclockid  = 1<<30 | 4<<16 | 'E'<<8 | 0xa0
	eviocgnameSize = 256
	eviocgname     = 2<<30 | eviocgnameSize<<16 | 'E'<<8 | 0x06
	keyBitsSize    = 0x300 / 8 // the EV_KEY capability bitmap: KEY_MAX is 0x2ff
	eviocgbitKey   = 2<<30 | keyBitsSize<<16 | 'E'<<8 | (0x20 + evKey)
)

// ioctl calls ioctl(2) with a pointer argument (arg) or a plain value.
func ioctl(f *os.File, req uintptr, arg unsafe.Pointer, val uintptr) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if cerr := rc.Control(func(fd uintptr) {
		if arg != nil {
			_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, req, uintptr(arg))
		} else {
			_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, req, val)
		}
	}); cerr != nil {
		return cerr
	}
	if errno != 0 {
		return errno
	}
	return nil
}

func queryInfo(f *os.File) (deviceInfo, error) {
	var info deviceInfo
	name := make([]byte, eviocgnameSize)
	if err := ioctl(f, eviocgname, unsafe.Pointer(&name[0]), 0); err != nil {
		return info, fmt.Errorf("not an input device: %w", err)
	}
	if i := slices.Index(name, 0); i >= 0 {
		name = name[:i]
	}
	info.name = string(name)
	var id [4]uint16 // bustype, vendor, product, version
	if err := ioctl(f, eviocgid, unsafe.Pointer(&id[0]), 0); err != nil {
		return info, fmt.Errorf("input device id: %w", err)
	}
	info.vendor, info.product = id[1], id[2]
	var bits [keyBitsSize]byte
	if err := ioctl(f, eviocgbitKey, unsafe.Pointer(&bits[0]), 0); err == nil {
		has := func(code int) bool { return bits[code/8]&(1<<(code%8)) != 0 }
		// KEY_1 is 2, KEY_KP1 is 79.
		info.typesDigits = has(2) || has(79)
	}
	return info, nil
}

// find returns the event device in dir that matches sel, or an error that
// lists what is there, so an administrator can fix the spec from the log
// (device names are not secrets).
func find(dir string, sel Selector) (string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "event*"))
	if err != nil {
		return "", err
	}
	slices.Sort(paths)
	var seen []string
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			continue
		}
		info, err := queryInfo(f)
		f.Close()
		if err != nil {
			continue
		}
		seen = append(seen, fmt.Sprintf("%q (id=%04x:%04x)", info.name, info.vendor, info.product))
		if sel.matches(info) {
			return p, nil
		}
	}
	if len(seen) == 0 {
		return "", fmt.Errorf("no input device matches %s: no input devices in %s", sel, dir)
	}
	return "", fmt.Errorf("no input device matches %s; found %s", sel, strings.Join(seen, ", "))
}

// openDevice opens the device sel selects and grabs it. The file is in
// Go's poller, so Close ends a Read in progress.
func openDevice(dir string, sel Selector) (io.ReadCloser, error) {
	path := sel.Path
	if path == "" {
		var err error
		if path, err = find(dir, sel); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if _, err := queryInfo(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := ioctl(f, eviocgrab, nil, 1); err != nil {
		f.Close()
		if errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("%s: another program holds the device (EVIOCGRAB): %w", path, err)
		}
		return nil, fmt.Errorf("%s: grab: %w", path, err)
	}
	// Monotonic timestamps, so a clock step between two keys cannot end a
	// read or glue two together. Old kernels lack it; realtime is fine then.
	clk := int32(unix.CLOCK_MONOTONIC)
	_ = ioctl(f, eviocsclockid, unsafe.Pointer(&clk), 0)
	return f, nil
}
