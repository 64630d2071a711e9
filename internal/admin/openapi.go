package admin

import (
	_ "embed"
	"errors"
	"net/http"

	"github.com/portcullis/portcullis/internal/audit"
)

// OpenAPI is the admin API's OpenAPI 3 document.
//
//go:embed openapi.yaml
var OpenAPI []byte

func (s *Server) openapi(c *call) error {
	c.w.Header().Set("Content-Type", "application/yaml")
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(OpenAPI)
	return nil
}

func isTampered(err error) bool { return errors.Is(err, audit.ErrTampered) }
