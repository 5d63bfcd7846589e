#!/usr/bin/env bash
# Builds the real Kubernetes control plane that the e2e tests in tests/kube run against:
# kube-apiserver and kube-controller-manager from Debian bookworm's `kubernetes` source package
# (the whole 1.20.2 tree, vendor/ included, so it builds offline with Debian's golang-go), and
# etcd from Debian's etcd-server. The binaries land in a cache outside the repo, so a second run
# finds them and returns at once. `make kube` calls this.
#
#   AGENTDASH_KUBE_DIR   where the binaries go (default ~/.cache/agentdash/kube-1.20.2); the
#                        tests read the same variable.
set -euo pipefail

readonly KUBE_VERSION=1.20.2
readonly SOURCE_PACKAGE=kubernetes
# Debian's upstream version for the 1.20.2 tree (it names it 1.20.5 for the archive's sake).
readonly SOURCE_VERSION="1.20.5+really${KUBE_VERSION}"
readonly CACHE="${AGENTDASH_KUBE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentdash/kube-${KUBE_VERSION}}"
readonly BIN="$CACHE/bin"
readonly BINARIES=(etcd kube-apiserver kube-controller-manager)
# Bumped whenever the build changes: binaries cached by another recipe are built again.
readonly RECIPE="1.20.2 with reflect2 1.0.2"
# Debian's modern-go/reflect2 1.0.2, for the 1.0.1 that Kubernetes 1.20 vendors: built with Go
# 1.18 or later, 1.0.1 iterates maps through a runtime function whose signature has changed,
# and kube-apiserver dies (SIGSEGV in mapiterinit) on the first custom object it decodes.
readonly REFLECT2=/usr/share/gocode/src/github.com/modern-go/reflect2

say() { echo "kube: $*"; }
die() {
  echo "kube: $*" >&2
  exit 1
}

all_built() {
  local name
  for name in "${BINARIES[@]}"; do
    [[ -x "$BIN/$name" ]] || return 1
  done
  [[ "$(cat "$BIN/RECIPE" 2>/dev/null)" == "$RECIPE" ]]
}

# Debian's Go toolchain and etcd, installed with apt where missing (CI runs as root); the
# Kubernetes build copies its binaries into _output with rsync.
install_debian_packages() {
  local missing=()
  command -v go >/dev/null 2>&1 || missing+=(golang-go)
  command -v rsync >/dev/null 2>&1 || missing+=(rsync)
  [[ -f "$REFLECT2/reflect2.go" ]] || missing+=(golang-github-modern-go-reflect2-dev)
  command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
  ((${#missing[@]})) || return 0
  [[ $(id -u) -eq 0 ]] || die "needs ${missing[*]}: apt-get install ${missing[*]} (as root), then make kube again"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The system's own apt sources turned into deb-src entries, in an apt configuration of our own
# under the cache: the machine's sources.list is never edited.
write_source_apt_config() {
  local apt_dir=$1
  local parts
  parts=$(apt-config shell D Dir::Etc::sourceparts/d | sed -E "s/^D='(.*)'$/\1/")
  local list
  list=$(apt-config shell L Dir::Etc::sourcelist/f | sed -E "s/^L='(.*)'$/\1/")
  mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  : >"$apt_dir/sources.list"
  if [[ -f "$list" ]]; then
    sed -nE 's/^deb[[:space:]]/deb-src /p' "$list" >"$apt_dir/sources.list"
  fi
  local file
  for file in "$parts"/*.sources; do
    [[ -f "$file" ]] || continue
    sed -E 's/^Types:.*/Types: deb-src/' "$file" >"$apt_dir/sources.list.d/$(basename "$file")"
  done
  for file in "$parts"/*.list; do
    [[ -f "$file" ]] || continue
    sed -nE 's/^deb[[:space:]]/deb-src /p' "$file" >"$apt_dir/sources.list.d/$(basename "$file")"
  done
  cat >"$apt_dir/apt.conf" <<EOF
Dir::Etc::sourcelist "$apt_dir/sources.list";
Dir::Etc::sourceparts "$apt_dir/sources.list.d";
Dir::State::lists "$apt_dir/lists";
Dir::Cache "$apt_dir/cache";
Dir::Cache::srcpkgcache "";
Dir::Cache::pkgcache "";
EOF
  # As root, apt downloads as the _apt user, who cannot write under root's home.
  if [[ $(id -u) -eq 0 ]]; then
    echo 'APT::Sandbox::User "root";' >>"$apt_dir/apt.conf"
  fi
}

# Unpacks the source package into $1 (dpkg-source applies Debian's patches).
fetch_source() {
  local work=$1
  local tree="$work/${SOURCE_PACKAGE}-${SOURCE_VERSION}"
  if [[ ! -d "$tree/vendor" ]]; then
    local apt_dir="$CACHE/apt"
    write_source_apt_config "$apt_dir"
    say "fetching the ${SOURCE_PACKAGE} ${SOURCE_VERSION} source package"
    APT_CONFIG="$apt_dir/apt.conf" apt-get update -qq
    (cd "$work" && APT_CONFIG="$apt_dir/apt.conf" apt-get source -qq "${SOURCE_PACKAGE}")
  fi
  [[ -d "$tree/vendor" ]] || die "apt-get source ${SOURCE_PACKAGE} gave no $tree/vendor"
  SOURCE_TREE=$tree
}

build_control_plane() {
  local tree=$1
  [[ -f "$tree/Makefile" ]] || die "no Makefile in '$tree'"
  say "building kube-apiserver and kube-controller-manager (15 to 20 minutes on 2 cores)"
  # CGO_ENABLED=0 and GOPROXY=off: static binaries from vendor/ alone, nothing fetched. A
  # failed run can leave empty tools in _output that make takes for built; Go's own cache
  # (GOCACHE) keeps what was compiled, so a retry starts from where it stopped.
  (
    cd "$tree"
    rm -rf _output
    local vendored=vendor/github.com/modern-go/reflect2
    rm -f "$vendored"/*.go "$vendored"/*.s
    cp "$REFLECT2"/*.go "$REFLECT2"/*.s "$vendored"/
    GOPROXY=off GOFLAGS=-mod=vendor CGO_ENABLED=0 GOCACHE="$CACHE/go-build" \
      nice -n 10 make WHAT="cmd/kube-apiserver cmd/kube-controller-manager"
  )
  local name
  for name in kube-apiserver kube-controller-manager; do
    install -m 0755 "$tree/_output/bin/$name" "$BIN/$name.new"
    mv "$BIN/$name.new" "$BIN/$name"
  done
}

main() {
  if all_built; then
    say "${BINARIES[*]} are in $BIN"
    return
  fi
  install_debian_packages
  mkdir -p "$BIN" "$CACHE/src"
  install -m 0755 "$(command -v etcd)" "$BIN/etcd"
  local started=$SECONDS
  fetch_source "$CACHE/src"
  build_control_plane "$SOURCE_TREE"
  echo "$RECIPE" >"$BIN/RECIPE"
  say "built in $((SECONDS - started)) s"
  # The tree and Go's build cache are a few GB; the binaries are all the tests need.
  rm -rf "$CACHE/src" "$CACHE/go-build" "$CACHE/apt"
  all_built || die "missing from $BIN after the build: ${BINARIES[*]}"
  say "${BINARIES[*]} are in $BIN"
}

main "$@"
