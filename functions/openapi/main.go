// Command openapi is the Lambda function of the openapi use case: the
// service's OpenAPI document at GET /api/v1/openapi.json.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clsvc/license-service/internal/service"
)

func main() {
	api := service.MustAPI()
	lambda.Start(api.OpenAPI)
}
