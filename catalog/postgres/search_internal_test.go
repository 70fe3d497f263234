package postgres

import (
	"slices"
	"testing"
)

func TestWithinOneEdit(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"video", "video", true},
		{"video", "vidoe", true},  // swapped
		{"video", "vidfo", true},  // changed
		{"video", "vdeo", true},   // removed
		{"video", "videos", true}, // added at the end
		{"video", "xvideo", true}, // added at the start
		{"video", "vdieo", true},
		{"video", "oedivv", false},
		{"video", "vixeoo", false},
		{"video", "vi", false},
		{"pasta", "patsa", true},
		{"pasta", "ptasa", false},
		{"café", "cafe", true},
		{"", "a", true},
		{"", "ab", false},
	} {
		if got := withinOneEdit(c.a, c.b); got != c.want {
			t.Errorf("withinOneEdit(%q, %q) = %v", c.a, c.b, got)
		}
		if got := withinOneEdit(c.b, c.a); got != c.want {
			t.Errorf("withinOneEdit(%q, %q) = %v", c.b, c.a, got)
		}
	}
}

func TestSplitSearch(t *testing.T) {
	for _, c := range []struct {
		in     string
		tokens []string
		plain  []bool
		ok     bool
	}{
		{"vide", []string{"vide"}, []bool{true}, true},
		{`learn "exact phrase" -not word`, []string{"learn", `"exact phrase"`, "-not", "word"}, []bool{true, false, false, true}, true},
		{`a"b c"d`, []string{"a", `"b c"`, "d"}, []bool{true, false, true}, true},
		{`"unbalanced words`, []string{`"unbalanced words`}, []bool{false}, true},
		{"cats OR dogs", []string{"cats", "OR", "dogs"}, []bool{true, true, true}, false},
		{"e-mail café 日本語", []string{"e-mail", "café", "日本語"}, []bool{false, true, true}, true},
		{"  \t ", nil, nil, true},
	} {
		toks, ok := splitSearch(c.in)
		var texts []string
		var plain []bool
		for _, tk := range toks {
			texts, plain = append(texts, tk.text), append(plain, tk.plain)
		}
		if !slices.Equal(texts, c.tokens) || !slices.Equal(plain, c.plain) || ok != c.ok {
			t.Errorf("splitSearch(%q) = %q %v %v, want %q %v %v", c.in, texts, plain, ok, c.tokens, c.plain, c.ok)
		}
	}
}

func FuzzSplitSearch(f *testing.F) {
	f.Add(`a "b c" -d or e`)
	f.Fuzz(func(t *testing.T, s string) {
		toks, _ := splitSearch(s)
		for _, tk := range toks {
			if tk.text == "" {
				t.Fatalf("empty token from %q", s)
			}
		}
	})
}
