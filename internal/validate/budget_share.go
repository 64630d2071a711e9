package validate

// Reserve counts n more bytes against the budget for memory a stage holds
// beside the read body (the WAF's own copy of it, a buffered response),
// or reports false, reserving nothing, when that would exceed it. Every
// successful Reserve is paired with a Release of the same n.
func (b *Budget) Reserve(n int64) bool { return b.acquire(n) }

// Release gives back what Reserve counted.
func (b *Budget) Release(n int64) { b.release(n) }
