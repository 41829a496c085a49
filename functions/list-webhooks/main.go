// Command list-webhooks is the Lambda function that lists a brand's webhook endpoints.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clsvc/license-service/internal/service"
)

func main() {
	api := service.MustAPI()
	lambda.Start(api.ListWebhooks)
}
