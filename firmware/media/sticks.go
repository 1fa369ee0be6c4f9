package media

import (
	"os"
	"path/filepath"
	"sort"
)

// Dir is the directory of a stick that holds Tessera's files.
const Dir = "tessera"

// The provisioning pair's names in Dir.
const (
	ProvisionFile = "provision.json"
	SignatureFile = "provision.sig"
)

// maxDepth is how far below a media root a stick may be mounted:
// /media/LABEL (udisks on some systems, usbmount's /media/usb0) or
// /run/media/USER/LABEL (udisks2).
const maxDepth = 2

// Sticks lists the directories up to two levels below roots that hold a
// tessera/ directory, sorted. A root that does not exist has none.
func Sticks(roots []string) []string {
	var out []string
	for _, d := range dirsBelow(roots) {
		if isDir(filepath.Join(d, Dir)) {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// dirsBelow lists the directories one and two levels below roots.
func dirsBelow(roots []string) []string {
	var out []string
	level := roots
	for range maxDepth {
		var next []string
		for _, dir := range level {
			entries, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range entries {
				p := filepath.Join(dir, e.Name())
				// A mount point is a directory; a symlink to one
				// (some automounters) counts too.
				if e.IsDir() || (e.Type()&os.ModeSymlink != 0 && isDir(p)) {
					next = append(next, p)
				}
			}
		}
		out = append(out, next...)
		level = next
	}
	return out
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
