// Command authorize-brand is the API Gateway REQUEST authorizer of the brand
// routes: it resolves X-API-Key to a brand.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clsvc/license-service/internal/service"
)

func main() {
	api := service.MustAPI()
	lambda.Start(api.AuthorizeBrand)
}
