package offline

import "golang.org/x/sys/unix"

// statfsFree is the space an unprivileged process may still write on dir's
// file system (a developer's Mac; Statfs_t's fields differ from Linux's).
func statfsFree(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
