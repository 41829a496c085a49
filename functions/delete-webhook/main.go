// Command delete-webhook is the Lambda function that removes a brand's webhook endpoint.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clsvc/license-service/internal/service"
)

func main() {
	api := service.MustAPI()
	lambda.Start(api.DeleteWebhook)
}
