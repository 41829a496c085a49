package server

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
)

// listTablesMaxLimit is DynamoDB's largest (and default) page of ListTables.
const listTablesMaxLimit = 100

// ListTablesInput mirrors DynamoDB ListTablesInput.
type ListTablesInput struct {
	ExclusiveStartTableName *string `json:"ExclusiveStartTableName,omitempty"`
	Limit                   *int32  `json:"Limit,omitempty"`
}

// ListTablesOutput mirrors DynamoDB ListTablesOutput: TableNames is always
// there, an empty list when there is no table.
type ListTablesOutput struct {
	TableNames             []string `json:"TableNames"`
	LastEvaluatedTableName *string  `json:"LastEvaluatedTableName,omitempty"`
}

// ListTables returns the names of the tables in ascending order, a page of
// at most Limit (default and maximum 100) after ExclusiveStartTableName.
// LastEvaluatedTableName is set when more names follow the page.
func (c *Client) ListTables(_ context.Context, input *ListTablesInput) (*ListTablesOutput, error) {
	limit := int32(listTablesMaxLimit)
	if input.Limit != nil {
		limit = *input.Limit
		if limit < 1 || limit > listTablesMaxLimit {
			return nil, &smithy.GenericAPIError{
				Code:    "ValidationException",
				Message: fmt.Sprintf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", limit, listTablesMaxLimit),
			}
		}
	}

	c.mu.Lock()
	names := make([]string, 0, len(c.tables))
	for name := range c.tables {
		names = append(names, name)
	}
	c.mu.Unlock()

	slices.Sort(names)

	if input.ExclusiveStartTableName != nil {
		start := aws.ToString(input.ExclusiveStartTableName)
		at, found := slices.BinarySearch(names, start)
		if found {
			at++
		}

		names = names[at:]
	}

	out := &ListTablesOutput{TableNames: names}
	if len(names) > int(limit) {
		out.TableNames = names[:limit]
		out.LastEvaluatedTableName = aws.String(names[limit-1])
	}

	out.TableNames = slices.Clip(out.TableNames)

	return out, nil
}
