// Command list-webhook-deliveries is the Lambda function that lists a webhook endpoint's deliveries.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clsvc/license-service/internal/service"
)

func main() {
	api := service.MustAPI()
	lambda.Start(api.ListWebhookDeliveries)
}
