package keys

// page turns rows fetched with limit+1 into at most limit views and the
// cursor of the next page ("" when this is the last): the extra row only
// says whether there is more.
func page[R, V any](rows []R, limit int, id func(R) string, view func(R) (V, error)) ([]V, string, error) {
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		next = id(rows[limit-1])
	}
	out := make([]V, 0, len(rows))
	for _, r := range rows {
		v, err := view(r)
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
	}
	return out, next, nil
}
