#!/usr/bin/env bash
# Build build/porthog_<version>_<arch>.deb with Debian's own tools: the binary
# built with dpkg-buildflags (in build/deb-build), `make install` into a staging
# root, Depends from the libraries' shlibs (dpkg-shlibdeps), the control file from
# debian/control (dpkg-gencontrol), the archive by dpkg-deb. The unit is installed,
# not enabled: the package has no maintainer scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 022

out=build
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
stage=$out/deb/porthog
version=$(dpkg-parsechangelog -S Version)
if ! grep -q "^#define PORTHOG_VERSION \"$version\"" user/common.h; then
	echo "porthog: debian/changelog is at $version, PORTHOG_VERSION in user/common.h is not" >&2
	exit 1
fi
deb=$out/porthog_${version}_$(dpkg-architecture -qDEB_HOST_ARCH).deb

rm -rf "$out/deb" "$deb"
export CFLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
export LDFLAGS="$(dpkg-buildflags --get LDFLAGS)"
# a build of its own, redone from scratch when the flags change
flags="$out/deb-build/.buildflags"
if [ "$(cat "$flags" 2>/dev/null)" != "$CFLAGS $LDFLAGS" ]; then
	rm -rf "$out/deb-build"
	mkdir -p "$out/deb-build"
	echo "$CFLAGS $LDFLAGS" > "$flags"
fi
make --no-print-directory OUT=$out/deb-build install DESTDIR="$PWD/$stage" \
	PREFIX=/usr SYSTEMDUNITDIR=/usr/lib/systemd/system >/dev/null

# what dh_strip, dh_installman, dh_installdocs, dh_installchangelogs and dh_lintian would do
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$stage/usr/sbin/porthog"
gzip -9n "$stage/usr/share/man/man8/porthog.8"
install -m 0644 debian/copyright "$stage/usr/share/doc/porthog/copyright"
gzip -9n -c debian/changelog > "$stage/usr/share/doc/porthog/changelog.gz"
install -D -m 0644 debian/porthog.lintian-overrides "$stage/usr/share/lintian/overrides/porthog"

mkdir -p "$stage/DEBIAN"
dpkg-shlibdeps -T"$out/deb/substvars" "$stage/usr/sbin/porthog"
dpkg-gencontrol -pporthog -P"$stage" -T"$out/deb/substvars" -f"$out/deb/files"
(cd "$stage" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) \
	> "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"
