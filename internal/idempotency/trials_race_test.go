//go:build race

package idempotency_test

// defaultTrials of TestDuplicatesAcrossInstances under the race detector,
// which makes each trial about five times slower. CI runs the full 1000
// trials in a step of their own, without it (.ci/run).
const defaultTrials = 250
