#!/usr/bin/env bash
# verify-data.sh [--headers-only] [--manifest FILE] DIR - check a KuaiRec 2.0 data folder against
# data-manifest.txt: every file present, exact header, and (real-size data) row counts, sizes and
# SHA-256 where the manifest knows them. --headers-only checks presence and headers and reports
# row counts without judging them (for rp-synth folders, whose sizes differ by design).
# Exit: 0 all good, 65 a mismatch, 66 DIR or a file missing, 64 usage. Used by `make verify-data`.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
manifest=$top/data-manifest.txt headers_only=0 dir=
usage() { echo "usage: $0 [--headers-only] [--manifest FILE] DIR" >&2; exit 64; }
while [ $# -gt 0 ]; do
    case $1 in
    --headers-only) headers_only=1;;
    --manifest) [ $# -ge 2 ] || usage; manifest=$2; shift;;
    --manifest=*) manifest=${1#--manifest=};;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    -*) echo "verify-data: unknown option $1" >&2; usage;;
    *) [ -z "$dir" ] || usage; dir=$1;;
    esac
    shift
done
[ -n "$dir" ] || usage
[ -r "$manifest" ] || { echo "verify-data: $manifest: cannot read the manifest" >&2; exit 66; }
[ -d "$dir" ] || { echo "verify-data: $dir: no such folder" >&2; exit 66; }

bad=0 missing=0 checked=0
# One manifest block -> check_file name header rows bytes sha256 notes
check_file() {
    local name=$1 header=$2 rows=$3 bytes=$4 sha=$5 notes=$6 path="$dir/$1" got
    checked=$((checked + 1))
    if [ ! -f "$path" ]; then
        echo "MISSING  $name: not in $dir"; missing=$((missing + 1)); return
    fi
    got=$(head -n 1 "$path" | sed $'s/^\xEF\xBB\xBF//; s/\r$//')
    if [ "$got" != "$header" ]; then
        echo "BAD      $name: header differs"
        echo "         expected: $header"
        echo "         found:    $got"
        bad=$((bad + 1)); return
    fi
    local n size
    n=$(( $(wc -l < "$path") - 1 ))
    [ -n "$(tail -c 1 "$path")" ] && n=$((n + 1)) # last line without '\n'
    size=$(stat -c %s "$path")
    if [ $headers_only = 1 ]; then
        if [ "$n" = "$rows" ]; then echo "OK       $name: header; $n rows (as the real file)"
        else echo "OK       $name: header; $n rows (real: $rows; sizes differ, not checked)"; fi
        return
    fi
    if [ "$n" != "$rows" ]; then
        echo "BAD      $name: $n data rows, expected $rows (a generated folder? use --headers-only)"
        bad=$((bad + 1)); return
    fi
    local extra=""
    if [ "$bytes" != unknown ] && [ "$size" != "$bytes" ]; then
        if [[ $notes == *"not proven"* ]]; then
            extra=" (warning: $size bytes, the known copy has $bytes; $notes)"
        else
            echo "BAD      $name: $size bytes, expected $bytes"; bad=$((bad + 1)); return
        fi
    elif [ "$sha" != unknown ]; then
        local h
        h=$(sha256sum "$path" | cut -d' ' -f1)
        if [ "$h" != "$sha" ]; then
            if [[ $notes == *"not proven"* ]]; then extra=" (warning: sha256 differs from the known copy)"
            else echo "BAD      $name: sha256 $h, expected $sha"; bad=$((bad + 1)); return; fi
        else
            extra=", sha256 ok"
        fi
    fi
    echo "OK       $name: header, $n rows$extra"
}

name= header= rows= bytes=unknown sha=unknown notes=
flush() {
    [ -n "$name" ] && check_file "$name" "$header" "$rows" "$bytes" "$sha" "$notes"
    name= header= rows= bytes=unknown sha=unknown notes=
}
while IFS= read -r line || [ -n "$line" ]; do
    case $line in
    '#'*) continue;;
    '') flush;;
    'file: '*) name=${line#file: };;
    'header: '*) header=${line#header: };;
    'rows: '*) rows=${line#rows: };;
    'bytes: '*) bytes=${line#bytes: };;
    'sha256: '*) sha=${line#sha256: };;
    'notes: '*) notes=${line#notes: };;
    esac
done < "$manifest"
flush

mode="full check"; [ $headers_only = 1 ] && mode="headers only"
echo "verify-data: $dir: $checked files ($mode): $((checked - bad - missing)) ok, $bad bad, $missing missing"
[ $missing -gt 0 ] && exit 66
[ $bad -gt 0 ] && exit 65
exit 0
