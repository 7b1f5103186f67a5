#!/usr/bin/env bash
# Builds target/sshd-sensor_<version>_<arch>.deb with dpkg-deb alone (no cargo-deb):
#   /usr/bin/sshd-sensor                       the release binary (eBPF object embedded)
#   /lib/systemd/system/sshd-sensor.service    systemd/sshd-sensor.service
#   /etc/sshd-sensor/config.toml               conffile: packaging/config.toml
#   /etc/logrotate.d/sshd-sensor               conffile: packaging/logrotate
#   /usr/share/doc/sshd-sensor/README.md       README.md, when present
# plus the maintainer scripts in packaging/debian. Run from anywhere; it builds the release
# binary first (`cargo build --release -p sensor-user`) unless --binary PATH names one.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
binary=""
while [ $# -gt 0 ]; do
    case "$1" in
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "build-deb.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done

for tool in dpkg-deb dpkg; do
    command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool is missing (apt-get install dpkg)" >&2; exit 1; }
done

if [ -z "$binary" ]; then
    (cd "$root" && cargo build --release -p sensor-user)
    binary="$root/target/release/sshd-sensor"
fi
[ -x "$binary" ] || { echo "build-deb.sh: $binary is not an executable" >&2; exit 1; }

version="$("$binary" --version | awk '{print $2}')"
[ -n "$version" ] || { echo "build-deb.sh: cannot read the version from $binary --version" >&2; exit 1; }
arch="$(dpkg --print-architecture)"
out="$root/target/sshd-sensor_${version}_${arch}.deb"

stage="$(mktemp -d "${TMPDIR:-/tmp}/sshd-sensor-deb.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
pkg="$stage/pkg"

install -D -m 0755 "$binary" "$pkg/usr/bin/sshd-sensor"
install -D -m 0644 "$root/systemd/sshd-sensor.service" "$pkg/lib/systemd/system/sshd-sensor.service"
install -D -m 0644 "$root/packaging/config.toml" "$pkg/etc/sshd-sensor/config.toml"
install -D -m 0644 "$root/packaging/logrotate" "$pkg/etc/logrotate.d/sshd-sensor"
if [ -f "$root/README.md" ]; then
    install -D -m 0644 "$root/README.md" "$pkg/usr/share/doc/sshd-sensor/README.md"
fi
install -d -m 0755 "$pkg/DEBIAN"
for script in postinst prerm postrm; do
    install -m 0755 "$root/packaging/debian/$script" "$pkg/DEBIAN/$script"
done
printf '%s\n' /etc/sshd-sensor/config.toml /etc/logrotate.d/sshd-sensor >"$pkg/DEBIAN/conffiles"

# The shipped configuration must be valid for the shipped binary.
"$binary" config check "$pkg/etc/sshd-sensor/config.toml" >/dev/null

installed_size="$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)"
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: sshd-sensor
Version: $version
Architecture: $arch
Maintainer: sshd-sensor developers <root@localhost>
Installed-Size: $installed_size
Depends: libc6
Recommends: logrotate, systemd
Section: admin
Priority: optional
Description: eBPF sensor for SSH session children connecting out
 Implements Elastic's detection rule "Network Connection Initiated by SSHD
 Child Process" (v4) live on this host: a process whose parent was started
 by sshd that opens a TCP connection to a non-private address raises an ECS
 alert (stdout/journal, and an NDJSON file for Filebeat or Elastic Agent).
 Run 'sshd-sensor check' to see whether this kernel supports it.
CONTROL

mkdir -p "$root/target"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$out" >/dev/null
echo "$out"
