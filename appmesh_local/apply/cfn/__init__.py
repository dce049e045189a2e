"""CloudFormation templates: parameters, conditions, intrinsic functions, stacks."""
