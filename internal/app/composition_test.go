package app

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The process is composed in one place. serve, demo and validate build
// through this package, so they cannot drift apart; a constructor of a
// long-lived part called anywhere else fails this test.
func TestOneCompositionRoot(t *testing.T) {
	allowed := map[string][]string{
		// The long-lived parts of a process.
		"server.New":          {"internal/app", "internal/gatewaytest"},
		"admin.New":           {"internal/app"},
		"console.New":         {"internal/app"},
		"keys.Open":           {"internal/app"},
		"ratelimit.NewStores": {"internal/app", "internal/gateway", "bench/ratelimit"},
		"waf.NewEngines":      {"internal/app", "internal/gateway"},
		// The shared store of idempotency keys and nonces: one per process.
		"sharedstate.NewRedis": {"internal/app"},
		// A runtime is built by the server (at start and on reload).
		"gateway.Build": {"internal/server", "bench/ratelimit"},
	}
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	found := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			name := pkg.Name + "." + sel.Sel.Name
			dirs, watched := allowed[name]
			if !watched {
				return true
			}
			found[name] = true
			if !slices.Contains(dirs, rel) {
				t.Errorf("%s: %s is called outside the composition root (%s): build the process with app.Build", fset.Position(call.Pos()), name, strings.Join(dirs, ", "))
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range allowed {
		if !found[name] {
			t.Errorf("%s is never called: the test no longer watches the real constructor", name)
		}
	}
}
