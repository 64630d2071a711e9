package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
)

// dialect is what differs between SQLite and PostgreSQL for the shared
// implementation. Queries are written with ? placeholders and rebound once
// per distinct query text.
type dialect struct {
	name string
	// numbered rebinds ? to $1, $2, ... (PostgreSQL).
	numbered bool
	// greatest is the two-argument maximum function.
	greatest string
	// auditLock serialises audit appends within a transaction ("" when the
	// database serialises writers anyway, as SQLite does).
	auditLock string
	// tokenLock makes bootstrap's count-then-insert of admin tokens atomic:
	// on PostgreSQL a table lock that conflicts with itself and with every
	// write of the table, not with reads; "" when every write transaction
	// holds the database's only write lock anyway, as SQLite's do.
	tokenLock string
	// migrateLock and migrateUnlock bracket migrations on one connection.
	migrateLock, migrateUnlock string
	// isUnique reports a unique-constraint violation.
	isUnique func(error) bool
	// notify publishes a change inside the transaction that makes it, so it
	// is delivered exactly when the transaction commits (PostgreSQL). nil
	// means changes are dispatched in process after commit (SQLite).
	notify func(ctx context.Context, tx *sql.Tx, c Change) error

	bound sync.Map // query text -> rebound text
}

func (d *dialect) bind(q string) string {
	if !d.numbered {
		return q
	}
	if v, ok := d.bound.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	d.bound.Store(q, b.String())
	return b.String()
}

// changePayload encodes a change for a notification: "k:<key id>",
// "c:<consumer id>", "s:<consumer id>" (its signing keys) or "i:<identity
// id>".
func changePayload(c Change) string {
	switch c.Kind {
	case ConsumerChanged:
		return "c:" + c.ID
	case SigningKeysChanged:
		return "s:" + c.ID
	case IdentitiesChanged:
		return "i:" + c.ID
	}
	return "k:" + c.ID
}

func parseChangePayload(s string) (Change, bool) {
	kind, id, ok := strings.Cut(s, ":")
	if !ok || id == "" {
		return Change{}, false
	}
	switch kind {
	case "k":
		return Change{Kind: KeyChanged, ID: id}, true
	case "c":
		return Change{Kind: ConsumerChanged, ID: id}, true
	case "s":
		return Change{Kind: SigningKeysChanged, ID: id}, true
	case "i":
		return Change{Kind: IdentitiesChanged, ID: id}, true
	}
	return Change{}, false
}
