package demo

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
)

// ReleaseVersion is the version of every demo product's published release.
const ReleaseVersion = "1.0.0"

// Package is a demo product's package: a small plugin zip, the same bytes
// on every run (fixed times), so that its SHA-256 is stable.
func Package(productSlug string) []byte {
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w, err := z.CreateHeader(&zip.FileHeader{Name: productSlug + "/" + productSlug + ".php", Method: zip.Deflate, Modified: at})
	if err == nil {
		_, err = fmt.Fprintf(w, "<?php\n/*\nPlugin Name: %s\nVersion: %s\n*/\n", productSlug, ReleaseVersion)
	}
	if err != nil || z.Close() != nil {
		panic("demo: zip in memory: " + fmt.Sprint(err)) // writing to a bytes.Buffer does not fail
	}
	return buf.Bytes()
}

// SeedReleases publishes ReleaseVersion of every demo product: created,
// uploaded through its presigned URL with client (nil: a default one) and
// published, as a brand's release pipeline does. A release already there is
// left as it is.
func SeedReleases(ctx context.Context, a *app.App, client *http.Client) error {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	for _, b := range Brands {
		t := licensing.Tenant{Brand: b.Slug, KeyPrefix: b.Prefix}
		for _, p := range b.Products {
			pkg := Package(p.Slug)
			sum := sha256.Sum256(pkg)
			size := int64(len(pkg))
			out, err := a.CreateRelease(ctx, t, p.Slug, licensing.ReleaseInput{
				Version: ReleaseVersion, Changelog: "## " + ReleaseVersion + "\n\n- First release of " + p.Name + ".",
				RequiresWP: "6.0", TestedWP: "6.7", RequiresPHP: "7.4", PackageSHA256: hex.EncodeToString(sum[:]), PackageSize: &size,
			})
			if licensing.IsCode(err, licensing.CodeAlreadyExists) {
				continue
			}
			if err != nil {
				return fmt.Errorf("seed release of %s: %w", p.Slug, err)
			}
			if err := Upload(ctx, client, out.Upload, pkg); err != nil {
				return fmt.Errorf("seed release of %s: %w", p.Slug, err)
			}
			if _, err := a.PublishRelease(ctx, t, p.Slug, ReleaseVersion); err != nil {
				return fmt.Errorf("seed release of %s: publish: %w", p.Slug, err)
			}
		}
	}
	return nil
}

// Upload makes a presigned upload with its signed headers (client nil: a
// default one).
func Upload(ctx context.Context, client *http.Client, up app.Presigned, body []byte) error {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, up.Method, up.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range up.Headers {
		if k != "Content-Length" { // net/http sends the body's length
			req.Header.Set(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("upload: %s: %s", resp.Status, msg)
	}
	return nil
}
