package terraform_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// TestModuleWiring checks what `terraform validate` would, for the wiring, without the
// AWS provider: every var.x, local.x and module.m.out a module refers to is declared,
// every module call passes only variables its module declares and all those without a
// default.
func TestModuleWiring(t *testing.T) {
	c := loadConfig(t)
	type module struct {
		vars     map[string]bool // name → required
		outputs  map[string]bool
		locals   map[string]bool
		calls    map[string]string // module name → directory
		files    []*tfFile
		callArgs map[string]map[string]bool
	}
	mods := map[string]*module{}
	get := func(dir string) *module {
		if m, ok := mods[dir]; ok {
			return m
		}
		m := &module{vars: map[string]bool{}, outputs: map[string]bool{}, locals: map[string]bool{},
			calls: map[string]string{}, callArgs: map[string]map[string]bool{}}
		mods[dir] = m
		return m
	}
	for _, f := range c.files {
		m := get(f.dir)
		m.files = append(m.files, f)
		for _, b := range f.body.Blocks {
			switch b.Type {
			case "variable":
				_, hasDefault := b.Body.Attributes["default"]
				m.vars[b.Labels[0]] = !hasDefault
			case "output":
				m.outputs[b.Labels[0]] = true
			case "locals":
				for name := range b.Body.Attributes {
					m.locals[name] = true
				}
			case "module":
				src, ok := stringAttr(b.Body, "source")
				if !ok {
					t.Errorf("%s: module %s has no literal source", f.path, b.Labels[0])
					continue
				}
				m.calls[b.Labels[0]] = filepath.Clean(filepath.Join(f.dir, src))
				args := map[string]bool{}
				for name := range b.Body.Attributes {
					switch name {
					case "source", "version", "count", "for_each", "depends_on", "providers":
					default:
						args[name] = true
					}
				}
				m.callArgs[b.Labels[0]] = args
			}
		}
	}
	for dir, m := range mods {
		for name, callee := range m.calls {
			cm, ok := mods[callee]
			if !ok {
				t.Errorf("%s: module %s's source %s has no .tf files", dir, name, callee)
				continue
			}
			for arg := range m.callArgs[name] {
				if _, ok := cm.vars[arg]; !ok {
					t.Errorf("%s: module %s is passed %s, which %s does not declare", dir, name, arg, callee)
				}
			}
			for v, required := range cm.vars {
				if required && !m.callArgs[name][v] {
					t.Errorf("%s: module %s is not passed %s, which %s requires", dir, name, v, callee)
				}
			}
		}
		for _, f := range m.files {
			hclsyntax.VisitAll(f.body, func(n hclsyntax.Node) hcl.Diagnostics {
				e, ok := n.(*hclsyntax.ScopeTraversalExpr)
				if !ok {
					return nil
				}
				var parts []string
				parts = append(parts, e.Traversal.RootName())
				for _, step := range e.Traversal[1:] {
					if a, ok := step.(hcl.TraverseAttr); ok {
						parts = append(parts, a.Name)
					} else {
						break
					}
				}
				at := f.path + ":" + itoa(e.SrcRange.Start.Line)
				switch {
				case parts[0] == "var" && len(parts) > 1:
					if _, ok := m.vars[parts[1]]; !ok {
						t.Errorf("%s: var.%s is not declared", at, parts[1])
					}
				case parts[0] == "local" && len(parts) > 1:
					if !m.locals[parts[1]] {
						t.Errorf("%s: local.%s is not declared", at, parts[1])
					}
				case parts[0] == "module" && len(parts) > 2:
					callee, ok := m.calls[parts[1]]
					if !ok {
						t.Errorf("%s: no module %s", at, parts[1])
					} else if cm := mods[callee]; cm != nil && !cm.outputs[parts[2]] {
						t.Errorf("%s: module.%s.%s: %s has no such output", at, parts[1], parts[2], callee)
					}
				}
				return nil
			})
		}
	}
	if !slices.Contains(func() []string {
		var ds []string
		for d := range mods {
			ds = append(ds, d)
		}
		return ds
	}(), "modules/compute") {
		t.Fatal("modules/compute not found: the check ran on nothing")
	}
}
