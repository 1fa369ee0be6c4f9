// Package media finds technicians' USB sticks: directories up to two
// levels below a media root (/media/usb0, /run/media/USER/LABEL) that
// hold a tessera/ directory. Watcher reports a stick once its
// provisioning pair (tessera/provision.json and tessera/provision.sig) is
// there and has stopped changing, with inotify (fsnotify) where the
// kernel offers it and polling otherwise.
package media
