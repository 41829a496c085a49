package licensing

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func at(d time.Duration) *time.Time { t := now.Add(d); return &t }

func TestEffectiveStatus(t *testing.T) {
	tests := []struct {
		name    string
		status  Status
		expires *time.Time
		want    Status
	}{
		{"perpetual valid", StatusValid, nil, StatusValid},
		{"valid before expiry", StatusValid, at(time.Hour), StatusValid},
		{"valid at expiry", StatusValid, at(0), StatusExpired},
		{"valid after expiry", StatusValid, at(-time.Hour), StatusExpired},
		{"suspended after expiry stays suspended", StatusSuspended, at(-time.Hour), StatusSuspended},
		{"cancelled", StatusCancelled, at(-time.Hour), StatusCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := License{Status: tt.status, ExpiresAt: tt.expires}
			assert.Equal(t, tt.want, l.EffectiveStatus(now))
		})
	}
}

func TestTransitions(t *testing.T) {
	later := at(48 * time.Hour)
	tests := []struct {
		name    string
		status  Status
		expires *time.Time
		action  Action
		renewTo *time.Time
		want    Status // "" = invalid transition
		wantExp *time.Time
	}{
		{"suspend valid", StatusValid, at(time.Hour), ActionSuspend, nil, StatusSuspended, at(time.Hour)},
		{"suspend expired", StatusValid, at(-time.Hour), ActionSuspend, nil, "", nil},
		{"suspend suspended", StatusSuspended, nil, ActionSuspend, nil, "", nil},
		{"suspend cancelled", StatusCancelled, nil, ActionSuspend, nil, "", nil},
		{"resume suspended", StatusSuspended, nil, ActionResume, nil, StatusValid, nil},
		{"resume valid", StatusValid, nil, ActionResume, nil, "", nil},
		{"resume cancelled", StatusCancelled, nil, ActionResume, nil, "", nil},
		{"cancel valid", StatusValid, nil, ActionCancel, nil, StatusCancelled, nil},
		{"cancel expired", StatusValid, at(-time.Hour), ActionCancel, nil, StatusCancelled, at(-time.Hour)},
		{"cancel suspended", StatusSuspended, nil, ActionCancel, nil, StatusCancelled, nil},
		{"cancel cancelled", StatusCancelled, nil, ActionCancel, nil, "", nil},
		{"renew valid", StatusValid, at(time.Hour), ActionRenew, later, StatusValid, later},
		{"renew expired", StatusValid, at(-time.Hour), ActionRenew, later, StatusValid, later},
		{"renew suspended keeps it suspended", StatusSuspended, at(time.Hour), ActionRenew, later, StatusSuspended, later},
		{"renew cancelled", StatusCancelled, at(time.Hour), ActionRenew, later, "", nil},
		{"renew perpetual", StatusValid, nil, ActionRenew, later, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := License{Status: tt.status, ExpiresAt: tt.expires, Version: 3}
			next, err := l.Transition(tt.action, "why", tt.renewTo, now)
			if tt.want == "" {
				assert.Equal(t, CodeInvalidTransition, ErrorCode(err))
				assert.Equal(t, l, next, "a refused transition changes nothing")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, next.Status)
			assert.Equal(t, tt.wantExp, next.ExpiresAt)
			assert.Equal(t, int64(4), next.Version)
			assert.Equal(t, now, next.UpdatedAt)
			if tt.action != ActionRenew {
				assert.Equal(t, "why", next.Reason)
			}
		})
	}
}

func TestRenewMustMoveExpiryLater(t *testing.T) {
	l := License{Status: StatusValid, ExpiresAt: at(72 * time.Hour)}
	_, err := l.Transition(ActionRenew, "", at(24*time.Hour), now)
	assert.Equal(t, CodeValidation, ErrorCode(err))
	_, err = l.Transition(ActionRenew, "", nil, now)
	assert.Equal(t, CodeValidation, ErrorCode(err))
}

func TestSeatsRemaining(t *testing.T) {
	assert.Equal(t, 2, License{SeatLimit: 5, SeatsUsed: 3}.SeatsRemaining())
	assert.Equal(t, 0, License{SeatLimit: 1, SeatsUsed: 2}.SeatsRemaining())
}
