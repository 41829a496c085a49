// Command retry-webhook-delivery is the Lambda function that sends a webhook delivery again.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clsvc/license-service/internal/service"
)

func main() {
	api := service.MustAPI()
	lambda.Start(api.RetryWebhookDelivery)
}
