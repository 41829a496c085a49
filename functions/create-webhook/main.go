// Command create-webhook is the Lambda function that adds a webhook endpoint to a brand.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clsvc/license-service/internal/service"
)

func main() {
	api := service.MustAPI()
	lambda.Start(api.CreateWebhook)
}
