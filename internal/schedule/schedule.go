// Package schedule adapts the service's scheduled jobs to EventBridge
// Scheduler / scheduled-rule invocations.
package schedule

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/internal/app"
)

// ReclaimResult is what a reclaim run answers (and logs).
type ReclaimResult struct {
	Brands []BrandResult `json:"brands"`
	Seats  int           `json:"seats_reclaimed"`
}

// BrandResult is one brand's part of a reclaim run.
type BrandResult struct {
	Brand string `json:"brand"`
	Seats int    `json:"seats_reclaimed"`
}

// Reclaim returns the handler of the daily reclaim of stale seats.
func Reclaim(a *app.App, log *slog.Logger) func(context.Context, events.CloudWatchEvent) (ReclaimResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, ev events.CloudWatchEvent) (ReclaimResult, error) {
		done, err := a.ReclaimStale(ctx)
		res := ReclaimResult{Brands: []BrandResult{}}
		for _, r := range done {
			res.Brands = append(res.Brands, BrandResult{Brand: r.Brand, Seats: r.Seats})
			res.Seats += r.Seats
		}
		attrs := []slog.Attr{slog.String("use_case", "reclaim-seats"), slog.String("event_id", ev.ID), slog.Int("seats_reclaimed", res.Seats)}
		if err != nil {
			log.LogAttrs(ctx, slog.LevelError, "reclaim failed", append(attrs, slog.String("error", err.Error()))...)
			return res, err
		}
		log.LogAttrs(ctx, slog.LevelInfo, "reclaim", attrs...)
		return res, nil
	}
}

// ExpiryResult is what an expiry run answers (and logs).
type ExpiryResult struct {
	Brands       []BrandExpiries `json:"brands"`
	ExpiringSoon int             `json:"expiring_soon"`
	Expired      int             `json:"expired"`
}

// BrandExpiries is one brand's part of an expiry run.
type BrandExpiries struct {
	Brand        string `json:"brand"`
	ExpiringSoon int    `json:"expiring_soon"`
	Expired      int    `json:"expired"`
}

// Expiries returns the handler of the daily expiry notices
// (LicenseExpiringSoon, LicenseExpired).
func Expiries(a *app.App, log *slog.Logger) func(context.Context, events.CloudWatchEvent) (ExpiryResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, ev events.CloudWatchEvent) (ExpiryResult, error) {
		done, err := a.NotifyExpiries(ctx)
		res := ExpiryResult{Brands: []BrandExpiries{}}
		for _, n := range done {
			res.Brands = append(res.Brands, BrandExpiries{Brand: n.Brand, ExpiringSoon: n.ExpiringSoon, Expired: n.Expired})
			res.ExpiringSoon += n.ExpiringSoon
			res.Expired += n.Expired
		}
		attrs := []slog.Attr{slog.String("use_case", "notify-expiries"), slog.String("event_id", ev.ID),
			slog.Int("expiring_soon", res.ExpiringSoon), slog.Int("expired", res.Expired)}
		if err != nil {
			log.LogAttrs(ctx, slog.LevelError, "expiry notices failed", append(attrs, slog.String("error", err.Error()))...)
			return res, err
		}
		log.LogAttrs(ctx, slog.LevelInfo, "expiry notices", attrs...)
		return res, nil
	}
}
