#!/usr/bin/env bash
# Builds Debian's own Abseil, with ThreadSanitizer, for `make test-tsan`.
#
# Why: absl::Mutex synchronizes inside libabsl_synchronization.so, which
# Debian builds without TSan's annotations, so TSan would not see our locks
# and would report every guarded access as a race. This script takes the
# very source Debian built its package from (the same version, the same
# patches, so the same ABI and SONAMEs), rebuilds the libraries with
# -fsanitize=thread, and leaves them in OUT/lib; the TSan tests run with
# LD_LIBRARY_PATH=OUT/lib, so that our code and gRPC's lock through them.
#
# The source comes from Debian's archive and is checked the way apt checks
# it: InRelease against the archive keyring, Sources.xz against InRelease,
# the tarballs against Sources. Nothing else is downloaded.
set -euo pipefail

OUT=$(realpath -m "${1:-var/absl-tsan}")
MIRROR=${DX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
VERSION=$(dpkg-query -W -f='${Version}' libabsl-dev)
if [ -f "$OUT/.built-$VERSION" ]; then exit 0; fi
for tool in curl gpgv xz patch clang++-14 cmake ninja; do
  command -v "$tool" >/dev/null || { echo "build-absl-tsan: needs $tool" >&2; exit 1; }
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
fetch() { curl -fsS -m 300 -o "$2" "$1"; }

echo "build-absl-tsan: Debian's abseil $VERSION"
fetch "$MIRROR/dists/$SUITE/InRelease" InRelease
gpgv --keyring "$KEYRING" --output Release InRelease 2>/dev/null
want=$(awk '/^SHA256:/{s=1;next} /^[A-Za-z]/{s=0} s && $3=="main/source/Sources.xz"{print $1}' Release)
fetch "$MIRROR/dists/$SUITE/main/source/Sources.xz" Sources.xz
echo "$want  Sources.xz" | sha256sum -c --quiet
xz -d Sources.xz
# The stanza of our version, and the files it lists.
awk -v v="$VERSION" 'BEGIN{RS=""} /^Package: abseil\n/ && index($0, "\nVersion: " v "\n")' Sources >stanza
dir=$(awk '/^Directory:/{print $2}' stanza)
awk '/^Checksums-Sha256:/{s=1;next} /^[A-Za-z]/{s=0} s{print $1"  "$3}' stanza >sums
[ -s sums ] || { echo "build-absl-tsan: version $VERSION not in the archive" >&2; exit 1; }
while read -r _ file; do fetch "$MIRROR/$dir/$file" "$file"; done <sums
sha256sum -c --quiet sums

mkdir src
tar xzf abseil_*.orig.tar.gz -C src --strip-components=1
src=$PWD/src
tar xJf abseil_*.debian.tar.xz -C "$src"
(cd "$src" && while read -r p; do
   case "$p" in ''|'#'*) continue ;; esac
   patch -s -p1 <"debian/patches/$p"
 done <debian/patches/series)

CC=clang-14 CXX=clang++-14 cmake -S "$src" -B build -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_STANDARD=17 \
  -DBUILD_SHARED_LIBS=ON -DBUILD_TESTING=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" >/dev/null
cmake --build build --target synchronization >/dev/null
# Into a folder beside OUT, then renamed: OUT may be shared by several
# checkouts of one machine (Makefile's TSAN_ABSL_DIR), and none of them must
# see half a set of libraries.
rm -rf "$OUT.new" && mkdir -p "$OUT.new/lib"
find build -name 'libabsl_*.so*' -exec cp -P {} "$OUT.new/lib/" \;
touch "$OUT.new/.built-$VERSION"
rm -rf "$OUT" && mv "$OUT.new" "$OUT"
echo "build-absl-tsan: $(ls "$OUT"/lib/*.so.* | wc -l) libraries in $OUT/lib"
