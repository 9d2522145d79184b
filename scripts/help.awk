# `make help`: the Makefile's targets with a "## " description, in the groups HELP_GROUPS names
# ("title=target,target ..."), each description wrapped to stay under 100 columns. A target in no
# group is still listed, under "other" (tests/unit/test_make_help.py keeps that list empty).
BEGIN {
  FS = ":.*## "
  groups = split(spec, specs, " ")
  for (g = 1; g <= groups; g++) {
    split(specs[g], pair, "=")
    title[g] = pair[1]
    members[g] = pair[2]
  }
}
/^[a-z0-9-]+:.*## / { description[$1] = $2; order[++targets] = $1 }
END {
  for (g = 1; g <= groups; g++) {
    printf "%s%s:\n", (g > 1 ? "\n" : ""), title[g]
    count = split(members[g], names, ",")
    for (i = 1; i <= count; i++) { show(names[i]); listed[names[i]] = 1 }
  }
  for (t = 1; t <= targets; t++) {
    if (order[t] in listed) continue
    if (!others++) print "\nother:"
    show(order[t])
  }
}
function show(name,    words, count, i, line, lead) {
  if (!(name in description)) return
  lead = sprintf("  make %-14s ", name)
  count = split(description[name], words, " ")
  line = ""
  for (i = 1; i <= count; i++) {
    if (line != "" && length(lead) + length(line) + 1 + length(words[i]) > 99) {
      print lead line
      lead = sprintf("%22s", "")
      line = ""
    }
    line = (line == "" ? words[i] : line " " words[i])
  }
  print lead line
}
