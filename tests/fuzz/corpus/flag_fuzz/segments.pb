

internalu-1u-2"u-3
)
eu*#
region	eu-west-1eu-central-1o
orders*postgres-orders2dynamodb-orders8J"
internal-firstinternal"J
eueumissing"Rz
u-1z
u-3
region	eu-west-1