#!/usr/bin/env bash
# options_docs.sh - every program, every option: each bin/rp-<stage> --help lists
# every option with its default ("[...]"), and its page docs/stages/<stage>.md documents
# exactly those options with the same defaults; README.md's make-variable tables give the same
# program defaults ("(empty) [X]"). A drift names the program, the option and both values.
set -u
source "$RP_TOP/tests/env.sh"
cd "$TMPDIR"
FAIL_GO_ON=1 # check everything, report each failure (fail: tests/env.sh)
stages=$(cd "$RP_TOP/stages" && for d in */; do [ -e "$d/main.c" ] && echo "${d%/}"; done)
[ -n "$stages" ] || { echo "skipped: no stages"; exit 77; }

# help_opts STAGE: "--name<TAB>default" for each option of --help ("<none shown>" if no [...]).
help_opts() {
    "$RP_BIN/rp-$1" --help | awk '/^  --/ {
        name = $1; sub(/,$/, "", name)
        if (name == "--help" || name == "--version") next
        def = "<none shown>"
        if (match($0, /\[[^]]*\]$/)) def = substr($0, RSTART + 1, RLENGTH - 2)
        print name "\t" def }'
}
# doc_opts FILE: "--name<TAB>default cell" for each row of an options table ("| `--name ...` |").
doc_opts() {
    sed 's/\\|/\//g' "$1" | awk -F'|' '/^\| *`--/ {
        n = split($2, w, /[^a-z0-9-]+/); def = $3; gsub(/^ +| +$/, "", def)
        for (i = 1; i <= n; i++)
            if (w[i] ~ /^--[a-z]/ && w[i] !~ /^--no-/ && w[i] != "--help" && w[i] != "--version")
                print w[i] "\t" def }' | awk -F'\t' '!seen[$1]++'
}
# same_default HELP DOC: 0 if the doc value (first word, markup stripped) agrees with --help.
same_default() {
    local h=$1 d
    d=$(printf '%s' "$2" | tr -d '`()' | tr 'A-Z' 'a-z' | awk '{print $1}' | sed 's/[,;:]$//')
    local num='^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$'
    case $h in
    none|required)
        # a description ("<out>.ckpt", "every user", "required", "none"), not a value
        [[ ! $d =~ $num ]] && [ "$d" != on ] && [ "$d" != off ];;
    *)
        if [[ $h =~ $num ]]; then
            [[ $d =~ $num ]] && awk -v a="$h" -v b="$d" 'BEGIN { exit !(a + 0 == b + 0) }'
        else
            [ "$d" = "$h" ]
        fi;;
    esac
}

for s in $stages; do
    page=docs/stages/$s.md
    [ -e "$RP_TOP/$page" ] || { fail "rp-$s has no page $page"; continue; }
    help_opts "$s" > "help-$s.tsv" || { fail "rp-$s --help failed"; continue; }
    doc_opts "$RP_TOP/$page" > "doc-$s.tsv"
    [ -s "help-$s.tsv" ] || { fail "rp-$s --help lists no options"; continue; }
    n=$("$RP_BIN/rp-$s" --help | grep -c '^Exit codes:')
    [ "$n" = 1 ] || fail "rp-$s --help prints its exit codes $n times (want once)"
    while IFS=$'\t' read -r opt def; do
        [ "$def" = "<none shown>" ] && fail "rp-$s --help: $opt shows no default ([...])"
        docdef=$(awk -F'\t' -v o="$opt" '$1 == o {print $2}' "doc-$s.tsv")
        if ! grep -q "^$opt"$'\t' "doc-$s.tsv"; then
            fail "$page: option $opt of rp-$s --help is missing from the options table"
        elif [ "$def" != "<none shown>" ] && ! same_default "$def" "$docdef"; then
            fail "$page: $opt default is '$docdef' but rp-$s --help says [$def]"
        fi
    done < "help-$s.tsv"
    while IFS=$'\t' read -r opt def; do
        grep -q "^$opt"$'\t' "help-$s.tsv" ||
            fail "$page documents $opt, which rp-$s --help does not list"
    done < "doc-$s.tsv"
done

# README.md: "| `VAR` | (empty) [default] | `--option ...` |" rows under a "**rp-<stage>...**"
# heading give the program's own default.
awk '/^\*\*rp-/ { progs = ""; line = $0
                  while (match(line, /rp-[a-z]+/)) { progs = progs " " substr(line, RSTART + 3, RLENGTH - 3); line = substr(line, RSTART + RLENGTH) } }
     /^## / && !/Make variables/ { progs = "" }
     progs != "" && /^\| `[A-Z_]+` \|[^|]*\[[^]]*\][^|]*\| `--/ {
        split($0, c, "|"); def = c[3]; sub(/^[^[]*\[/, "", def); sub(/\].*/, "", def)
        opt = c[4]; sub(/^ *`/, "", opt); sub(/[ `].*/, "", opt); var = c[2]; gsub(/[ `]/, "", var)
        print var "\t" opt "\t" def "\t" progs }' "$RP_TOP/README.md" > readme.tsv
[ -s readme.tsv ] || fail "README.md: no make-variable rows with a program default found"
while IFS=$'\t' read -r var opt def progs; do
    owner=
    for p in $progs; do grep -q "^$opt"$'\t' "help-$p.tsv" 2>/dev/null && owner="$owner $p"; done
    set -- $owner
    [ $# = 0 ] && { fail "README.md: $var maps to $opt, which no program of its table ($progs) has"; continue; }
    [ $# = 1 ] || continue
    hdef=$(awk -F'\t' -v o="$opt" '$1 == o {print $2}' "help-$1.tsv")
    same_default "$hdef" "$def" || fail "README.md: $var is '[$def]' but rp-$1 --help says $opt [$hdef]"
done < readme.tsv

[ $fails = 0 ] || exit 1
echo "options of $(echo $stages | wc -w) programs match their pages and README.md ($(cat help-*.tsv | wc -l) options, $(wc -l < readme.tsv) README rows)"
