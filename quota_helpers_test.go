package llmlimit

// sameLimits compares the counts of two request quotas, nil included.
func sameLimits(got, want *Quota) bool {
	if got == nil || want == nil {
		return got == want
	}
	return got.Limit == want.Limit && got.Remaining == want.Remaining && got.Reset == want.Reset && got.Window == want.Window
}
