#!/usr/bin/env bash
# test-deps.sh installs, with apt-get, only the Debian packages the tests need
# that are missing, starts D-Bus and avahi once, installs the npm test tools
# (package.json) and downloads the Go modules.
# A machine that already has everything never touches apt, so `make test` on a
# ready machine stays offline from Debian and fast.
set -euo pipefail

cd "$(dirname "$0")/.."

# package|file that proves it is installed. A file check, not dpkg, because
# that is what the tests actually need and it is cheap.
# Never add ippsample: it conflicts with cups-ipp-utils' ippeveprinter.
# Only what a test uses today: a package joins the list with its first test.
checks=(
	"cups|/usr/sbin/cupsd"
	"cups-client|/usr/bin/lp"
	"cups-bsd|/usr/bin/lpr"
	"cups-ipp-utils|/usr/sbin/ippeveprinter"
	"avahi-daemon|/usr/sbin/avahi-daemon"
	"dbus|/usr/bin/dbus-daemon"
	"snmpd|/usr/sbin/snmpd"
	"snmp|/usr/bin/snmpget"
	"snmpsim|/usr/bin/snmpsimd"
	"tinyproxy|/usr/bin/tinyproxy"
	"gcc-arm-linux-gnueabihf|/usr/bin/arm-linux-gnueabihf-gcc"
	"gcc-aarch64-linux-gnu|/usr/bin/aarch64-linux-gnu-gcc"
	"libc6-dev-armhf-cross|/usr/arm-linux-gnueabihf/include/stdio.h"
	"libc6-dev-arm64-cross|/usr/aarch64-linux-gnu/include/stdio.h"
	"qemu-user-static|/usr/bin/qemu-arm-static"
	"qemu-user-static|/usr/bin/qemu-aarch64-static"
	"file|/usr/bin/file"
	"procps|/usr/bin/ps"
	"nodejs|/usr/bin/node"
	"nodejs|/usr/bin/npm"
	"chromium|/usr/bin/chromium"
	"sqlite3|/usr/bin/sqlite3"
	"postgresql|/usr/lib/postgresql/15/bin/initdb"
	"haproxy|/usr/sbin/haproxy"
)

missing=()
for c in "${checks[@]}"; do
	pkg=${c%%|*}
	path=${c#*|}
	if [ ! -e "$path" ]; then
		case " ${missing[*]-} " in
		*" $pkg "*) ;;
		*) missing+=("$pkg") ;;
		esac
	fi
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "test-deps: missing Debian packages: ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "test-deps: not root, cannot install them. Run as root:" >&2
		echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
else
	echo "test-deps: all Debian packages present"
fi

# The system bus and avahi are needed by the DNS-SD tests. There is no
# init system to start them, so start them once, as daemons, if absent.
# A socket or pid file can outlive its daemon (a container restarted, a
# killed test run), so a live process is what counts, never the file; a
# zombie is not alive.
running() { ps -C "$1" -o stat= 2>/dev/null | grep -qv '^Z'; }
if [ "$(id -u)" -eq 0 ]; then
	if ! running dbus-daemon; then
		mkdir -p /run/dbus
		rm -f /run/dbus/pid /run/dbus/system_bus_socket
		dbus-daemon --system --fork || { echo "test-deps: dbus-daemon did not start" >&2; exit 1; }
	fi
	# avahi can exit soon after starting when the bus it just got is not
	# quite ready (a cold container): try a few times before giving up.
	for attempt in 1 2 3; do
		if ! running avahi-daemon; then
			rm -f /run/avahi-daemon/pid
			avahi-daemon -D || true
		fi
		for _ in $(seq 1 30); do
			avahi-daemon --check 2>/dev/null && break 2
			sleep 0.1
		done
		echo "test-deps: avahi-daemon not up yet (attempt $attempt)" >&2
		sleep 1
	done
	avahi-daemon --check || { echo "test-deps: avahi-daemon did not start" >&2; exit 1; }
else
	if ! running dbus-daemon || ! running avahi-daemon; then
		echo "test-deps: D-Bus or avahi-daemon is not running and only root can start them" >&2
		exit 1
	fi
fi

# The panel's test tools from npm (package.json pins them; package-lock.json
# holds the exact tree): es-check for the served scripts, axe-core for the
# browser tests. Into ./node_modules, only when missing or not the pinned
# version. In CI (CI=true) a failure fails; elsewhere the tests that need
# them skip, so a machine without npm can still run the rest.
npm_version() { node -p "require('./node_modules/$1/package.json').version" 2>/dev/null || true; }
if [ "$(npm_version es-check)" != "9.8.1" ] || [ "$(npm_version axe-core)" != "4.14.1" ] || [ ! -x node_modules/.bin/es-check ]; then
	if command -v npm >/dev/null && npm ci --no-audit --no-fund; then
		echo "test-deps: npm tools installed"
	elif [ "${CI-}" = "true" ]; then
		echo "test-deps: npm ci failed (or npm is missing): es-check and axe-core are needed" >&2
		exit 1
	else
		echo "test-deps: npm tools missing; the es-check and browser tests will skip" >&2
	fi
else
	echo "test-deps: npm tools present"
fi

go mod download
echo "test-deps: ready"
