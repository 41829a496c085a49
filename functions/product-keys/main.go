// Command product-keys is the Lambda function serving the license tokens'
// public keys (JWKS).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clsvc/license-service/internal/service"
)

func main() {
	api := service.MustAPI()
	lambda.Start(api.ProductKeys)
}
