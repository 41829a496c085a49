// Package secret loads the token signing keyring from AWS Secrets Manager.
package secret

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clsvc/license-service/internal/token"
)

// GetSecretValueAPI is the part of *secretsmanager.Client the loader uses.
type GetSecretValueAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// LoadFromSecretsManager reads the current version of secretID (a name or
// ARN) and parses its SecretString (or, when it has none, its SecretBinary)
// as the keyring document of token.ParseKeyring. Its errors name the secret
// but never show its value.
func LoadFromSecretsManager(ctx context.Context, client GetSecretValueAPI, secretID string) ([]token.Key, error) {
	if secretID == "" {
		return nil, fmt.Errorf("token keyring: no secret id")
	}
	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		return nil, fmt.Errorf("token keyring: get secret %q: %w", secretID, err)
	}
	var raw string
	switch {
	case out.SecretString != nil:
		raw = *out.SecretString
	case len(out.SecretBinary) > 0:
		raw = string(out.SecretBinary)
	default:
		return nil, fmt.Errorf("token keyring: secret %q has no value", secretID)
	}
	keys, err := token.ParseKeyring(raw)
	if err != nil {
		return nil, fmt.Errorf("token keyring: secret %q: %w", secretID, err)
	}
	return keys, nil
}
