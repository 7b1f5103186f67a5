#!/usr/bin/env bash
# Builds target/sshd-sensor_<version>_<arch>.deb with dpkg-deb alone (no cargo-deb):
#   /usr/bin/sshd-sensor                       the release binary (eBPF object embedded)
#   /lib/systemd/system/sshd-sensor.service    systemd/sshd-sensor.service
#   /etc/sshd-sensor/config.toml               conffile: packaging/config.toml
#   /etc/logrotate.d/sshd-sensor               conffile: packaging/logrotate
#   /usr/share/doc/sshd-sensor/README.md       README.md, when present
# plus the maintainer scripts in packaging/debian. Run from anywhere; it builds the static
# release binary first (`cargo build --release -p sensor-user --target x86_64-unknown-linux-musl`)
# unless --binary PATH names one. It refuses a binary that is not a static x86-64 executable
# (an ELF interpreter or a NEEDED library): the package declares no libc dependency, so one
# binary installs and runs on every Debian and Ubuntu release, whatever its glibc.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
binary=""
while [ $# -gt 0 ]; do
    case "$1" in
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "build-deb.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done

for tool in dpkg-deb:dpkg readelf:binutils; do
    command -v "${tool%%:*}" >/dev/null ||
        { echo "build-deb.sh: ${tool%%:*} is missing (apt-get install ${tool#*:})" >&2; exit 1; }
done

target=x86_64-unknown-linux-musl
if [ -z "$binary" ]; then
    (cd "$root" && cargo build --release -p sensor-user --bin sshd-sensor --target "$target")
    binary="$root/target/$target/release/sshd-sensor"
fi
[ -x "$binary" ] || { echo "build-deb.sh: $binary is not an executable" >&2; exit 1; }

# Static x86-64 only: no PT_INTERP (no dynamic loader) and no DT_NEEDED (no shared library).
# A static-pie binary keeps a dynamic section for its own relocations, so that alone is fine.
# (Here-strings, not pipes into `grep -q`: with pipefail, an early grep exit fails the pipe.)
refuse() { echo "build-deb.sh: refusing to package $binary: $1" >&2; exit 1; }
elf() { LC_ALL=C readelf -W "$@" "$binary" 2>/dev/null; }
header="$(elf --file-header)" || refuse "not an ELF file"
grep -Eq '^ *Machine: +Advanced Micro Devices X86-64$' <<<"$header" ||
    refuse "not an x86-64 executable (the package is amd64)"
grep -Eq '^ *Type: +(EXEC|DYN) ' <<<"$header" || refuse "not an executable"
segments="$(elf --program-headers)" || refuse "readelf cannot read its program headers"
if grep -Eq '^ *INTERP ' <<<"$segments"; then
    refuse "it is dynamically linked (it has an ELF interpreter); build it with --target $target"
fi
dynamic="$(elf --dynamic)" || refuse "readelf cannot read its dynamic section"
needed="$(sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p' <<<"$dynamic" | tr '\n' ' ')"
[ -z "$needed" ] || refuse "it needs shared libraries: ${needed% }"

version="$("$binary" --version | awk '{print $2}')"
[ -n "$version" ] || { echo "build-deb.sh: cannot read the version from $binary --version" >&2; exit 1; }
arch=amd64
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
for script in preinst postinst prerm postrm; do
    install -m 0755 "$root/packaging/debian/$script" "$pkg/DEBIAN/$script"
done
printf '%s\n' /etc/sshd-sensor/config.toml /etc/logrotate.d/sshd-sensor >"$pkg/DEBIAN/conffiles"

# The shipped configuration must be valid for the shipped binary.
"$binary" config check "$pkg/etc/sshd-sensor/config.toml" >/dev/null

# Relationships: no Depends. The binary is static and needs nothing from the system at run time
# (it reads /proc and /sys and talks to the kernel); the unit needs systemd, but the binary does
# not, and a package that ships a unit does not depend on an init system. logrotate is
# recommended: the shipped configuration appends alerts to a file only its snippet rotates.
installed_size="$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)"
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: sshd-sensor
Version: $version
Architecture: $arch
Maintainer: sshd-sensor developers <root@localhost>
Installed-Size: $installed_size
Recommends: logrotate
Section: admin
Priority: optional
Description: eBPF sensor for SSH session children connecting out
 Implements Elastic's detection rule "Network Connection Initiated by SSHD
 Child Process" (v4) live on this host: a process whose parent was started
 by sshd that opens a TCP connection to a non-private address raises an ECS
 alert (stdout/journal, and an NDJSON file for Filebeat or Elastic Agent).
 The binary is static: it runs on any x86-64 Linux 5.8+ with BTF, whatever
 its libc. Run 'sshd-sensor check' to see whether this host supports it.
CONTROL

mkdir -p "$root/target"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$out" >/dev/null
echo "$out"
