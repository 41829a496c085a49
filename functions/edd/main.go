// Command edd is the Lambda function of the EDD-compatible endpoint, for
// plugins that speak Easy Digital Downloads Software Licensing.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clsvc/license-service/internal/service"
)

func main() {
	api := service.MustAPI()
	lambda.Start(api.EDD)
}
