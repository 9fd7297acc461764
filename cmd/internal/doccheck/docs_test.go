package doccheck

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cradle-monitor/cradle/cmd/internal/cradlecli"
	"github.com/cradle-monitor/cradle/cmd/internal/cradledcli"
)

// repoRoot is the directory of go.mod above the test's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = up
	}
}

// docFiles are the documents whose code blocks the tests read, relative
// to the repository's root.
func docFiles(t *testing.T, root string) []string {
	t.Helper()
	files := []string{"README.md", "deploy/image/README.md"}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range more {
		rel, _ := filepath.Rel(root, m)
		files = append(files, rel)
	}
	return files
}

// A block is a fenced code block of a Markdown file.
type block struct {
	file  string
	lang  string // the info string's first word: sh, toml, or ""
	line  int    // the first line after the opening fence (1-based)
	lines []string
}

var fence = regexp.MustCompile("^\\s*(```+|~~~+)\\s*([A-Za-z0-9_+-]*)")

// fencedBlocks returns the fenced code blocks of a Markdown text; an
// indented fence (in a list item) counts, and the block's lines lose the
// fence's indentation.
func fencedBlocks(file, text string) []block {
	var blocks []block
	var cur *block
	var indent, marker string
	for i, l := range strings.Split(text, "\n") {
		m := fence.FindStringSubmatch(l)
		switch {
		case cur == nil && m != nil:
			cur = &block{file: file, lang: m[2], line: i + 2}
			indent = l[:len(l)-len(strings.TrimLeft(l, " \t"))]
			marker = m[1]
		case cur != nil && m != nil && strings.HasPrefix(strings.TrimSpace(l), marker) && strings.TrimSpace(l) == strings.Repeat(marker[:1], len(strings.TrimSpace(l))):
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, strings.TrimPrefix(l, indent))
		}
	}
	return blocks
}

// A cmdLine is one command line of a document, continuations joined.
type cmdLine struct {
	where string // file:line
	text  string
}

// logicalLines joins the lines that end in a backslash with the next.
func logicalLines(where func(int) string, lines []string) []cmdLine {
	var out []cmdLine
	var cur strings.Builder
	start := -1
	for i, l := range lines {
		if start < 0 {
			start = i
		}
		if s, ok := strings.CutSuffix(strings.TrimRight(l, " \t"), `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(l)
		out = append(out, cmdLine{where: where(start), text: cur.String()})
		cur.Reset()
		start = -1
	}
	if start >= 0 {
		out = append(out, cmdLine{where: where(start), text: cur.String()})
	}
	return out
}

// shellCommands splits a shell line into simple commands (at |, ||, &&,
// ; and &) of words, with quotes removed and a comment dropped. $(...)
// stays inside its word, as Make's $(BIN) does.
func shellCommands(line string) [][]string {
	var cmds [][]string
	var words []string
	var w strings.Builder
	inWord := false
	endWord := func() {
		if inWord {
			words = append(words, w.String())
			w.Reset()
			inWord = false
		}
	}
	endCmd := func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\'' || r == '"':
			inWord = true
			j := i + 1
			for j < len(rs) && rs[j] != r {
				if r == '"' && rs[j] == '\\' && j+1 < len(rs) {
					j++
				}
				w.WriteRune(rs[j])
				j++
			}
			i = j
		case r == '$' && i+1 < len(rs) && rs[i+1] == '(':
			inWord = true
			depth := 0
			for ; i < len(rs); i++ {
				w.WriteRune(rs[i])
				if rs[i] == '(' {
					depth++
				} else if rs[i] == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
		case r == '#' && !inWord:
			endCmd()
			return cmds
		case r == '|' || r == '&' || r == ';':
			endCmd()
		case r == ' ' || r == '\t':
			endWord()
		default:
			inWord = true
			w.WriteRune(r)
		}
	}
	endCmd()
	return cmds
}

// programs are the binaries a command line may name, by the prefixes the
// docs, the Makefile and the units use.
var programs = map[string]func([]string) error{
	"cradle":  cradlecli.Check,
	"cradled": cradledcli.Check,
}

var prefixes = []string{"", "./bin/", "bin/", "$(BIN)/", "/usr/bin/", "/usr/local/bin/"}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// program returns the checker of a simple command that runs cradle or
// cradled (after sudo and variable assignments), and its arguments.
func program(words []string) (string, func([]string) error, []string) {
	for len(words) > 0 && (assignment.MatchString(words[0]) || words[0] == "sudo") {
		if words[0] == "sudo" {
			words = words[1:]
			for len(words) > 0 && strings.HasPrefix(words[0], "-") {
				if words[0] == "-u" || words[0] == "-g" {
					words = words[1:]
				}
				words = words[1:]
			}
			continue
		}
		words = words[1:]
	}
	if len(words) == 0 {
		return "", nil, nil
	}
	for _, p := range prefixes {
		if name, ok := strings.CutPrefix(words[0], p); ok {
			if check := programs[name]; check != nil {
				return name, check, words[1:]
			}
		}
	}
	return "", nil, nil
}

// examplePayload is a well-formed setup payload (appliance/pairing's test
// vector), used where the docs abbreviate one (CR:AGMOUB...).
const examplePayload = "CR:AEAACAQDAQCQMBYIBEFAWDANBYHRAEISCMKBKFQXDAMRUGY4DUPB6HIXAF4JXDIY"

// placeholders stand for a value the docs do not spell out; a flag whose
// value the command checks at parse time gets a real one.
var placeholderValue = map[string]string{
	"--code":    "2468-1357",
	"--payload": examplePayload,
}

// isPlaceholder: 1234-5678 is the docs' way to show a setup code's shape;
// cradle refuses it as too easy to guess, and says to use the code on the
// monitor's card, so it can never pass for a real one.
func isPlaceholder(v string) bool {
	return v == "1234-5678" || strings.Contains(v, "...") || strings.Contains(v, "…") || strings.HasPrefix(v, "<") ||
		capitals.MatchString(v)
}

var capitals = regexp.MustCompile(`^[A-Z][A-Z_]*$|^X+-X+$`)

func fillPlaceholders(args []string) []string {
	out := append([]string(nil), args...)
	for i := 0; i+1 < len(out); i++ {
		if real, ok := placeholderValue[out[i]]; ok && isPlaceholder(out[i+1]) {
			out[i+1] = real
		}
	}
	return out
}

// docCommands returns every cradle and cradled command line of the
// documents' code blocks (shell ones; in unlabelled ones, the lines that
// start at the margin), of the Makefile's recipes (echoed ones too)
// and of the systemd units and their defaults (commented ones too).
func docCommands(t *testing.T, root string) []cmdLine {
	t.Helper()
	var lines []cmdLine
	for _, f := range docFiles(t, root) {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, bl := range fencedBlocks(f, string(b)) {
			switch bl.lang {
			case "sh", "bash", "shell", "console":
			case "": // diagrams and file trees too: only lines that start with a command
				for i, l := range bl.lines {
					if l == strings.TrimLeft(l, " \t") {
						continue
					}
					bl.lines[i] = ""
				}
			default:
				continue
			}
			lines = append(lines, logicalLines(func(i int) string { return fmt.Sprintf("%s:%d", bl.file, bl.line+i) }, bl.lines)...)
		}
	}
	units, _ := filepath.Glob(filepath.Join(root, "deploy", "systemd", "*"))
	for _, f := range append(units, filepath.Join(root, "deploy", "cradle-listen.default"), filepath.Join(root, "Makefile")) {
		rel, _ := filepath.Rel(root, f)
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		var raw []string
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, "ExecStart="):
				l = strings.TrimPrefix(l, "ExecStart=")
				l = strings.ReplaceAll(l, "%I", "Nursery")
				l = strings.ReplaceAll(l, "$CRADLE_LISTEN_ARGS", "") // empty in the shipped defaults
			case strings.HasPrefix(l, "#  "): // an example, indented (a comment's prose is not)
				l = strings.TrimLeft(l, "# ")
			case strings.HasPrefix(l, "\t"): // a recipe
				l = strings.TrimLeft(l, "\t@-")
				if s, ok := strings.CutPrefix(l, "echo "); ok {
					l = strings.Trim(strings.TrimSpace(s), `"'`)
				}
			default:
				l = ""
			}
			raw = append(raw, l)
		}
		fh.Close()
		for i, l := range raw {
			lines = append(lines, cmdLine{where: fmt.Sprintf("%s:%d", rel, i+1), text: l})
		}
	}
	return lines
}

// TestDocCommandsParse runs every cradle and cradled command line the
// docs show through the binaries' own parsers (Check: global flags,
// subcommand, the subcommand's flags and arguments), running nothing.
func TestDocCommandsParse(t *testing.T) {
	root := repoRoot(t)
	n := 0
	for _, cl := range docCommands(t, root) {
		for _, words := range shellCommands(cl.text) {
			name, check, args := program(words)
			if check == nil {
				continue
			}
			n++
			if err := check(fillPlaceholders(args)); err != nil {
				t.Errorf("%s: %s %s: %v", cl.where, name, strings.Join(args, " "), err)
			}
		}
	}
	if n < 20 {
		t.Fatalf("found only %d cradle/cradled command lines in the docs: is the extraction broken?", n)
	}
	t.Logf("%d command lines checked", n)
}

// TestDocConfigsLoad loads every TOML snippet of the docs, and the
// shipped deploy/cradled.toml, with cradled's own loader and validation.
func TestDocConfigsLoad(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	type snippet struct{ where, text string }
	var snippets []snippet
	for _, f := range docFiles(t, root) {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, bl := range fencedBlocks(f, string(b)) {
			if bl.lang == "toml" {
				snippets = append(snippets, snippet{fmt.Sprintf("%s:%d", bl.file, bl.line), strings.Join(bl.lines, "\n")})
			}
		}
	}
	if len(snippets) == 0 {
		t.Fatal("no toml block in the docs: is the extraction broken?")
	}
	for i, s := range snippets {
		path := filepath.Join(dir, fmt.Sprintf("snippet%d.toml", i))
		if err := os.WriteFile(path, []byte(s.text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := cradledcli.CheckConfig(path); err != nil {
			t.Errorf("%s: the snippet does not load: %v", s.where, err)
		}
	}
	if err := cradledcli.CheckConfig(filepath.Join(root, "deploy", "cradled.toml")); err != nil {
		t.Errorf("deploy/cradled.toml: %v", err)
	}

	// A setting in running text: `media = "devices"`.
	setting := regexp.MustCompile("`([a-z_]+ = [^`]+)`")
	n := 0
	for _, f := range docFiles(t, root) {
		b, _ := os.ReadFile(filepath.Join(root, f))
		for i, l := range strings.Split(string(b), "\n") {
			for _, m := range setting.FindAllStringSubmatch(l, -1) {
				n++
				path := filepath.Join(dir, fmt.Sprintf("setting%d.toml", n))
				if err := os.WriteFile(path, []byte(m[1]+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := cradledcli.CheckConfig(path); err != nil {
					t.Errorf("%s:%d: `%s` does not load: %v", f, i+1, m[1], err)
				}
			}
		}
	}
	if n == 0 {
		t.Error("no `key = value` setting in the docs' text: is the extraction broken?")
	}
}

// TestListenDefaultsFlags: the flags deploy/cradle-listen.default offers
// for CRADLE_LISTEN_ARGS are cradle listen's, and its value parses.
func TestListenDefaultsFlags(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "deploy", "cradle-listen.default"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CRADLE_LISTEN_ARGS="); ok {
			args := append([]string{"listen", "Nursery"}, strings.Fields(strings.Trim(v, `"'`))...)
			if err := cradlecli.Check(args); err != nil {
				t.Errorf("cradle-listen.default:%d: %v", i+1, err)
			}
		}
		fields := strings.Fields(strings.TrimLeft(l, "# "))
		if !strings.HasPrefix(l, "#") || len(fields) == 0 || !strings.HasPrefix(fields[0], "--") {
			continue
		}
		n++
		if err := cradlecli.Check([]string{"listen", "Nursery", fields[0] + "=x"}); err != nil && strings.Contains(err.Error(), "not defined") {
			t.Errorf("cradle-listen.default:%d: %v", i+1, err)
		}
	}
	if n == 0 {
		t.Error("no flag in cradle-listen.default's comments: is the extraction broken?")
	}
}

// TestExtraction: the helpers find what a reader sees.
func TestExtraction(t *testing.T) {
	got := shellCommands(`sudo FOO=1 $(BIN)/cradle --x "a b" 'c' | tee log && cradled id # cradle listen`)
	want := [][]string{{"sudo", "FOO=1", "$(BIN)/cradle", "--x", "a b", "c"}, {"tee", "log"}, {"cradled", "id"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("shellCommands = %q, want %q", got, want)
	}
	if name, _, args := program(want[0]); name != "cradle" || fmt.Sprint(args) != "[--x a b c]" {
		t.Errorf("program = %q %q", name, args)
	}
	bl := fencedBlocks("x.md", "text\n   ```sh\n   cradle a \\\n     --b\n   ```\n```toml\nk = 1\n```\n")
	if len(bl) != 2 || bl[0].lang != "sh" || bl[1].lang != "toml" || bl[0].line != 3 {
		t.Fatalf("fencedBlocks = %+v", bl)
	}
	ls := logicalLines(func(i int) string { return fmt.Sprint(i) }, bl[0].lines)
	if len(ls) != 1 || ls[0].text != "cradle a    --b" {
		t.Errorf("logicalLines = %+v", ls)
	}
}

// TestTroubleshootingQuotesTheCode: every message README.md's
// Troubleshooting quotes in bold ("**"the monitor did not answer"**",
// "**Pair says "…"**") is text the code holds, so that a parent who
// searches for what the screen says finds it. An ellipsis stands for a
// part that varies (a path): each side must be in the code.
func TestTroubleshootingQuotesTheCode(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Troubleshooting\n")
	if !ok {
		t.Fatal("README.md has no Troubleshooting section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	section = strings.Join(strings.Fields(section), " ")

	var code strings.Builder
	for _, dir := range []string{"appliance", "cmd", "store", "media", "hw"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			ext := filepath.Ext(path)
			if (ext == ".go" && !strings.HasSuffix(path, "_test.go")) || ext == ".js" || ext == ".html" {
				src, err := os.ReadFile(path)
				code.Write(src)
				code.WriteByte('\n')
				return err
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	src := code.String()

	bold := regexp.MustCompile(`\*\*([^*]+)\*\*`)
	quoted := regexp.MustCompile(`"([^"]+)"`)
	n := 0
	for _, m := range bold.FindAllStringSubmatch(section, -1) {
		for _, q := range quoted.FindAllStringSubmatch(m[1], -1) {
			n++
			for _, part := range regexp.MustCompile(`\.\.\.|…`).Split(q[1], -1) {
				part = strings.Trim(part, " /")
				if part != "" && !strings.Contains(src, part) {
					t.Errorf("Troubleshooting quotes %q, but the code has no %q", q[1], part)
				}
			}
		}
	}
	if n < 5 {
		t.Fatalf("found only %d quoted messages in Troubleshooting: is the extraction broken?", n)
	}
	t.Logf("%d quoted messages found in the code", n)
}

// TestDocInlineCommands: a command in running text (`cradle pair
// --payload`) is often partial, so only what it names is checked: its
// subcommand and its flags (and their values) must exist.
func TestDocInlineCommands(t *testing.T) {
	root := repoRoot(t)
	span := regexp.MustCompile("`((?:sudo )?(?:\\./bin/|bin/)?cradled? [^`]+)`")
	wrongName := regexp.MustCompile(`flag provided but not defined|unknown command|invalid value|invalid boolean`)
	n := 0
	for _, f := range docFiles(t, root) {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range strings.Split(string(b), "\n") {
			for _, m := range span.FindAllStringSubmatch(l, -1) {
				for _, words := range shellCommands(m[1]) {
					name, check, args := program(words)
					if check == nil {
						continue
					}
					n++
					if err := check(fillPlaceholders(args)); err != nil && wrongName.MatchString(err.Error()) {
						t.Errorf("%s:%d: `%s %s`: %v", f, i+1, name, strings.Join(args, " "), err)
					}
				}
			}
		}
	}
	if n < 20 {
		t.Fatalf("found only %d commands in the docs' text: is the extraction broken?", n)
	}
	t.Logf("%d commands in running text checked", n)
}
