package openapi

import (
	"context"
	"slices"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

// Specs are the documents one configuration names, each read and
// compiled once (routes and upstreams naming the same file share it).
// A reload builds new Specs: a changed file is read again.
type Specs struct {
	cfg  *config.Config
	docs map[string]*Document
}

// LoadAll loads every document cfg names (blocks whose mode is off
// excepted). Problems are returned with the path of each block that names
// the file.
func LoadAll(ctx context.Context, cfg *config.Config) (*Specs, error) {
	s := &Specs{cfg: cfg, docs: map[string]*Document{}}
	failed := map[string]error{}
	var errs config.Errors
	load := func(path string, o *config.OpenAPI) {
		if o == nil || o.Mode == "off" {
			return
		}
		if _, ok := s.docs[o.Spec]; ok {
			return
		}
		err, ok := failed[o.Spec]
		if !ok {
			var d *Document
			if d, err = Load(ctx, o.Spec); err == nil {
				s.docs[o.Spec] = d
				return
			}
			failed[o.Spec] = err
		}
		errs.Add(config.Join(path, "spec"), "%v", err)
	}
	for i, u := range cfg.Upstreams {
		load(config.Join(config.Index("upstreams", i), "openapi"), u.OpenAPI)
	}
	for i, r := range cfg.Routes {
		load(config.Join(config.Index("routes", i), "openapi"), r.OpenAPI)
	}
	return s, errs.Err()
}

// Stage is route r's contract stage, or nil when no document applies to
// it (or its document failed to load, which LoadAll reported).
func (s *Specs) Stage(r config.Route, d Deps) pipeline.Stage {
	if s == nil {
		return nil
	}
	o := s.cfg.OpenAPIOf(r)
	if o == nil {
		return nil
	}
	doc := s.docs[o.Spec]
	if doc == nil {
		return nil
	}
	return New(r.Name, o, doc, d)
}

// Files are the files the documents were read from, absolute, sorted and
// without repeats: what a reload would read again.
func (s *Specs) Files() []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, d := range s.docs {
		out = append(out, d.Files...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
