package problem

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// slugPattern is the shape of a problem type's last segment.
var slugPattern = regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)

// typeArg is the argument that carries the type slug, by constructor.
var typeArg = map[string]int{"New": 1, "BadRequest": 0, "Unavailable": 0}

// problemTypes finds every problem type the gateway's code can return: the
// string literals passed as the type to New, BadRequest and Unavailable,
// and the Type* constants packages declare for theirs.
func problemTypes(t *testing.T) map[string]string {
	t.Helper()
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	found := map[string]string{}
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
		inProblem := f.Name.Name == "problem"
		add := func(e ast.Expr) {
			lit, ok := e.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return
			}
			if s, err := strconv.Unquote(lit.Value); err == nil && slugPattern.MatchString(s) {
				found[s] = fset.Position(lit.Pos()).String()
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				var name string
				switch fn := n.Fun.(type) {
				case *ast.SelectorExpr:
					if id, ok := fn.X.(*ast.Ident); ok && id.Name == "problem" {
						name = fn.Sel.Name
					}
				case *ast.Ident:
					if inProblem {
						name = fn.Name
					}
				}
				if i, ok := typeArg[name]; ok && len(n.Args) > i {
					add(n.Args[i])
				}
			case *ast.ValueSpec:
				for i, id := range n.Names {
					if strings.HasPrefix(id.Name, "Type") && i < len(n.Values) {
						add(n.Values[i])
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// Every problem type a client can receive has a row in a table of docs/
// ("| `slug` | status | when |"), most in docs/problems.md.
func TestEveryProblemTypeIsDocumented(t *testing.T) {
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(pages) == 0 {
		t.Fatalf("no pages in docs/ (%v)", err)
	}
	var doc strings.Builder
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		doc.Write(b)
	}
	types := problemTypes(t)
	if len(types) < 10 {
		t.Fatalf("found only %d problem types in the code; is the scan broken?", len(types))
	}
	slugs := make([]string, 0, len(types))
	for s := range types {
		slugs = append(slugs, s)
	}
	sort.Strings(slugs)
	for _, slug := range slugs {
		t.Run(slug, func(t *testing.T) {
			if !strings.Contains(doc.String(), "\n| `"+slug+"` |") {
				t.Errorf("problem type %s (%s) has no row \"| `%s` | ...\" in docs/", slug, types[slug], slug)
			}
		})
	}
}
