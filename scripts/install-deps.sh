#!/usr/bin/env bash
# Installs the Debian packages sjmp needs to build, test and run its demonstrations.
# Idempotent: installs only what is missing. Run as root (or with sudo available).
set -euo pipefail
pkgs=(build-essential cmake pkg-config python3 clang-format
      libcriterion-dev libxxhash-dev libelf-dev
      libhts-dev samtools bwa bowtie2-examples
      dwgsim htslib-test python3-matplotlib)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
