// Command rotate-webhook-secret is the Lambda function that rotates a webhook endpoint's signing secret.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clsvc/license-service/internal/service"
)

func main() {
	api := service.MustAPI()
	lambda.Start(api.RotateWebhookSecret)
}
